import type { Queryable, ShardStatements } from '../db/kit.js'
import { createShardMap, explainMissingTable, textAndValues } from '../db/kit.js'

/**
 * The saga log's database: statements by shard (concord/db's `ShardStatements`) and the slot map that places a
 * saga by its id, so it runs on concord/db's shards or on plain clients (a pg Pool per shard, a PGlite) without
 * importing either.
 */
export interface SagaSql extends ShardStatements {
  /** The shard of a key under the db's slot map (a saga's rows live on its id's shard). */
  shardFor(key: string): number
}

/**
 * The saga log on concord/db shards (or one database: `createShards({ primary: createPgNode({ pool }) })`).
 * A statement on a table the saga migrations have not created fails with `MigrationsMissingError`.
 */
export function sagaSqlFromShards(shards: SagaSql): SagaSql {
  return {
    count: shards.count,
    shardFor: (key) => shards.shardFor(key),
    async execute<R>(shard: number, statement: Parameters<Queryable['query']>[0], values?: unknown[]) {
      try {
        return await shards.execute<R>(shard, statement, values)
      } catch (error) {
        throw explainMissingTable(error)
      }
    },
  }
}

/**
 * The saga log on plain clients, one per shard, each statement in autocommit (a `pg.Pool` each is fine here).
 * `map` places sagas as the db's shards place keys; pass the same map as `createShards({ map })`.
 * @default createShardMap({ shards: clients.length })
 */
export function sagaSqlFromClients(
  clients: readonly Queryable[],
  map: { shardFor(key: string): number } = createShardMap({ shards: clients.length }),
): SagaSql {
  return {
    count: clients.length,
    shardFor: (key) => map.shardFor(key),
    async execute<R>(shard: number, statement: Parameters<Queryable['query']>[0], values?: unknown[]) {
      // Named statements are left to concord/db's nodes, which know whether the connection keeps them.
      const { text, values: params } = textAndValues(statement, values)
      try {
        return await clients[shard]!.query<R>(text, params)
      } catch (error) {
        throw explainMissingTable(error)
      }
    },
  }
}

/** FNV-1a, 32 bits: a stable hash every process computes alike (names the log's prepared statements). */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}
