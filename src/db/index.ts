/**
 * concord/db: N shards, each a PostgreSQL primary with streaming replicas. Writes run in transactions on
 * the primary and return the commit LSN; reads go to a replica that has replayed a given LSN, else to the
 * primary (read-your-writes across replicas, and replica-safe cache fills: C4).
 */
export {
  DbClosedError,
  isConnectionError,
  MigrationError,
  SerializationFailureError,
  ShardNotFoundError,
  ShardUnavailableError,
  TransactionRolledBackError,
} from './errors.js'
export { compareLsn, formatLsn, isLsn, lsnDiff, lsnToBigInt } from './lsn.js'
export type { MigrationReport } from './migrations.js'
export { orderMigrations } from './migrations.js'
export type { PgNodeOptions } from './pg-node.js'
export { pgNode } from './pg-node.js'
export type { PgliteBootOptions } from './pglite-boot.js'
export { bootPglite, defaultPgliteCacheDir } from './pglite-boot.js'
export type { PgliteNodeOptions } from './pglite-node.js'
export { pgliteNode } from './pglite-node.js'
export type { MaxLag } from './replica-health.js'
export type { ReadOptions } from './router.js'
export type { ShardMap } from './shard-map.js'
export { createShardMap, DEFAULT_SLOTS, hashKey } from './shard-map.js'
export type { Shards, ShardsOptions, TransactionOptions } from './shards.js'
export { createShards } from './shards.js'
export type { DbLogger, RetryPolicy } from './transactions.js'
export type {
  Isolation,
  Migration,
  NodeAdapter,
  Queryable,
  QueryOptions,
  ReadRoute,
  ReplicaHealth,
  Session,
  ShardConfig,
  Tx,
} from './types.js'
