/**
 * concord/db: N shards, each a PostgreSQL primary with streaming replicas. Writes run in transactions on
 * the primary and return the commit LSN; reads go to a replica that has replayed a given LSN, else to the
 * primary (read-your-writes across replicas, and replica-safe cache fills: C4).
 */

export { type PoolOf, readCommitLsn, withCommitLsn } from './commit-lsn.js'
export {
  DbClosedError,
  MigrationError,
  MigrationsMissingError,
  NotATransactionError,
  SerializationFailureError,
  ShardNotFoundError,
  ShardUnavailableError,
  TransactionRolledBackError,
} from './errors.js'
export { compareLsn, isLsn } from './lsn.js'
export type { MigrationReport } from './migrations.js'
export { migrationScript } from './migrations.js'
export type { MaxLag } from './replica-health.js'
export type { ReadOptions } from './router.js'
export type { ShardMap } from './shard-map.js'
export { createShardMap } from './shard-map.js'
export type {
  ShardedOptions,
  ShardRolesState,
  Shards,
  ShardsCore,
  ShardsOptions,
  SingleDatabaseOptions,
  TransactionOptions,
} from './shards.js'
export { createShards } from './shards.js'
export type { Failover, ShardRoles, TopologySource } from './topology.js'
export type { DbLogger, TransactionRetryPolicy } from './transactions.js'
export type {
  Connection,
  Isolation,
  Migration,
  NodeAdapter,
  Queryable,
  ReadRoute,
  ReplicaHealth,
  Session,
  ShardConfig,
  ShardStatements,
  SqlResult,
  SqlStatement,
  Tx,
} from './types.js'
