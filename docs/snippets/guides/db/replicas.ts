/**
 * The db guide (docs/guides/db.md): a primary and its streaming replica, reads routed by commit LSN (C4).
 * Run: DATABASE_URL=postgres://... DATABASE_REPLICA_URL=postgres://... node --import tsx --conditions=source \
 *   docs/snippets/guides/db/replicas.ts
 */
import { createShards } from 'concord/db'
import { createPgNode } from 'concord/pg'

const primaryUrl = process.env.DATABASE_URL
const replicaUrl = process.env.DATABASE_REPLICA_URL
if (!primaryUrl || !replicaUrl) throw new Error('set DATABASE_URL and DATABASE_REPLICA_URL')

// #region replicas
const shards = createShards({
  primary: createPgNode({ connectionString: primaryUrl, name: 'primary' }),
  replicas: [createPgNode({ connectionString: replicaUrl, name: 'replica' })],
  maxLag: { seconds: 5 }, // a replica further behind (checked every `healthInterval`) serves no reads
})
// #endregion replicas
await shards.migrate([
  {
    module: 'guide',
    version: 1,
    name: 'notes',
    sql: 'CREATE TABLE note (id int PRIMARY KEY, body text NOT NULL)',
  },
])

// #region lsn
const { lsn } = await shards.withTransaction(1, (tx) =>
  tx.query("INSERT INTO note (id, body) VALUES (1, 'hello') ON CONFLICT (id) DO UPDATE SET body = 'hello'"),
)
// Read your own write anywhere: a replica that has replayed `lsn`, else the primary. Never an older row.
const { result, route } = await shards.readWithRoute(
  1,
  (q) => q.query<{ body: string }>('SELECT body FROM note WHERE id = 1'),
  { minLsn: lsn },
)
console.log(`read "${result.rows[0]?.body}" on the ${route.node} (${route.reason}) at or past ${lsn}`)
// #endregion lsn

// #region health
for (const replica of await shards.refreshHealth()) {
  console.log(`${replica.name}: healthy ${replica.healthy}, lag ${replica.lagBytes} bytes`)
}
// #endregion health

await shards.close()
