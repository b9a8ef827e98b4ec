import type { Queryable, ShardStatements } from '../db/kit.js'
import { explainMissingTable } from '../db/kit.js'

/**
 * The saga log's database: statements by shard (concord/db's `ShardStatements`), so it runs on concord/db's shards
 * or on plain clients (a pg Pool per shard, a PGlite) without importing either.
 */
export type SagaSql = ShardStatements

/**
 * The saga log on concord/db shards (or one database: `createShards({ primary: createPgNode({ pool }) })`).
 * A statement on a table the saga migrations have not created fails with `MigrationsMissingError`.
 */
export function sagaSqlFromShards(shards: ShardStatements): SagaSql {
  return {
    count: shards.count,
    async execute<R>(shard: number, statement: Parameters<Queryable['query']>[0], values?: unknown[]) {
      try {
        return await shards.execute<R>(shard, statement, values)
      } catch (error) {
        throw explainMissingTable(error)
      }
    },
  }
}

/** The saga log on plain clients, one per shard, each statement in autocommit (a `pg.Pool` each is fine here). */
export function sagaSqlFromClients(clients: readonly Queryable[]): SagaSql {
  return {
    count: clients.length,
    async execute<R>(shard: number, statement: Parameters<Queryable['query']>[0], values?: unknown[]) {
      // Named statements are left to concord/db's nodes, which know whether the connection keeps them.
      const text = typeof statement === 'string' ? statement : statement.text
      const params = typeof statement === 'string' ? values : (statement.values ?? values)
      try {
        return await clients[shard]!.query<R>(text, params)
      } catch (error) {
        throw explainMissingTable(error)
      }
    },
  }
}

/** FNV-1a, 32 bits: a stable hash every process computes alike, to place a saga's log by its id. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}
