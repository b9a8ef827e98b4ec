/**
 * The db guide (docs/guides/db.md): two shards, a shard map, resharding. Embedded (PGlite): no servers.
 * Run: node --import tsx --conditions=source docs/snippets/guides/db/sharded.ts
 */
import { createShardMap, createShards } from 'concord/db'
import { createPgliteNode } from 'concord/pglite'

// #region shards
const map = createShardMap({ shards: 2 }) // 4096 slots, assigned to shards 0 and 1
const shards = createShards({
  shards: [{ primary: createPgliteNode() }, { primary: createPgliteNode() }],
  map,
})
await shards.migrate([
  {
    module: 'shop',
    version: 1,
    name: 'accounts',
    sql: 'CREATE TABLE account (id text PRIMARY KEY, balance int NOT NULL, version int NOT NULL)',
  },
])
// #endregion shards

// #region write
for (const id of ['alice', 'bob', 'carol', 'dave']) {
  // A transaction on the primary of the key's shard; it returns the commit LSN (a session token).
  const { lsn } = await shards.withTransaction(id, (tx) =>
    tx.query('INSERT INTO account (id, balance, version) VALUES ($1, 100, 1)', [id]),
  )
  console.log(`${id}: slot ${map.slotFor(id)}, shard ${shards.shardFor(id)}, committed at ${lsn}`)
}
// A read by key, and one over every shard.
const alice = await shards.read('alice', (q) =>
  q.query('SELECT balance FROM account WHERE id = $1', ['alice']),
)
const perShard = await shards.scatter((q) => q.query<{ n: number }>('SELECT count(*)::int AS n FROM account'))
console.log(
  `alice has ${alice.rows[0]?.balance}; rows per shard: ${perShard.map((r) => r.rows[0]?.n).join(', ')}`,
)
// #endregion write

// #region reshard
// Add a third shard and give it alice's slot. Keys never rehash: only the keys of moved slots change shard.
const next = map.reassign({ [map.slotFor('alice')]: 2 }, 3)
const moved = ['alice', 'bob', 'carol', 'dave'].filter((id) => map.shardFor(id) !== next.shardFor(id))
console.log(`map v${map.version} -> v${next.version}: moved ${moved.join(', ')}`)
// Then: copy the moved slots' rows to shard 2, and restart on createShards({ shards: [..3 nodes], map: next }).
// #endregion reshard

await shards.close()
