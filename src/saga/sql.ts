import { createShardMap } from '../db/index.js'

/**
 * The little SQL the saga log needs, so it runs on concord/db's shards or on plain clients (a pg
 * Pool, a PGlite) without importing either.
 */

/** Anything that runs one statement with `$1` parameters: a pg Pool or Client, PGlite, a concord/db Tx. */
export interface SqlQueryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>
}

/** The saga log's view of the shards: run one statement, atomically, on a shard's primary. */
export interface SagaSql {
  readonly count: number
  /** The shard of a key under the db's slot map (a saga's row lives on its id's shard). */
  shardFor(key: string): number
  /** `prepare`: a name to prepare the statement under, once per connection (a hint; see concord/db). */
  execute(shard: number, sql: string, params: unknown[], prepare?: string): Promise<Record<string, unknown>[]>
}

/** The subset of concord/db's `Shards` the saga log uses. */
export interface ShardsLike {
  readonly count: number
  shardFor(shardKey: string): number
  execute(
    shard: number,
    sql: string,
    params?: unknown[],
    options?: { prepare?: string },
  ): Promise<{ rows: unknown[] }>
}

/** The saga log on concord/db shards: each statement on its own (autocommit) on the shard's primary. */
export function sagaSqlFromShards(shards: ShardsLike): SagaSql {
  return {
    count: shards.count,
    shardFor: (key) => shards.shardFor(key),
    async execute(shard, sql, params, prepare) {
      return (await shards.execute(shard, sql, params, prepare ? { prepare } : undefined)).rows as Record<
        string,
        unknown
      >[]
    },
  }
}

/**
 * The saga log on plain clients, one per shard (each statement runs in autocommit). `map` places sagas as
 * the db's shards place keys; pass the same map as `createShards({ map })`. @default createShardMap({ shards })
 */
export function sagaSqlFromClients(
  clients: readonly SqlQueryable[],
  map: { shardFor(key: string): number } = createShardMap({ shards: clients.length }),
): SagaSql {
  return {
    count: clients.length,
    shardFor: (key) => map.shardFor(key),
    async execute(shard, sql, params) {
      return (await clients[shard]!.query(sql, params)).rows as Record<string, unknown>[]
    },
  }
}

/** FNV-1a, 32 bits: a stable hash every process computes alike (names prepared statements by their text). */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}
