/**
 * The parts of concord/db that adapters (src/redis, src/pg, src/nats, src/memory, ...) are built from.
 * Not a public subpath: other concept modules import `index.ts`, adapters this file.
 */

export { assertConnection } from './connection.js'
export {
  DbClosedError,
  explainMissingTable,
  isConnectionError,
  NotATransactionError,
  TransactionRolledBackError,
} from './errors.js'
export { COMMIT_LSN_SQL, compareLsn } from './lsn.js'
export { Mutex } from './mutex.js'
export { splitPlaceholders, textAndValues } from './placeholders.js'
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
