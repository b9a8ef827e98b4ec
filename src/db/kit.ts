/**
 * What other folders of concord build on from this one (the adapters in src/redis, src/pg, ..., and modules layered
 * on it). Not a public subpath: the public API is index.ts.
 */

export { quoteChannel } from './channel.js'
export { assertConnection } from './connection.js'
export {
  DbClosedError,
  explainMissingTable,
  isConnectionError,
  NotATransactionError,
  TransactionRolledBackError,
} from './errors.js'
export { COMMIT_LSN_SQL, compareLsn, isLsn, lsnToBigInt } from './lsn.js'
export { migrateNode, orderMigrations } from './migrations.js'
export { Mutex } from './mutex.js'
export { splitPlaceholders, textAndValues } from './placeholders.js'
export { createShardMap } from './shard-map.js'
export type { Shards, ShardsCore } from './shards.js'
export type {
  Connection,
  Isolation,
  Migration,
  NodeAdapter,
  Queryable,
  Session,
  ShardStatements,
  SqlResult,
  SqlStatement,
  Tx,
} from './types.js'
