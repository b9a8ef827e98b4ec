/**
 * The parts of concord/db that adapters (src/redis, src/pg, src/nats, src/memory, ...) are built from.
 * Not a public subpath: other concept modules import `index.ts`, adapters this file.
 */
export { DbClosedError, isConnectionError, TransactionRolledBackError } from './errors.js'
export { COMMIT_LSN_SQL, compareLsn } from './lsn.js'
export { Mutex } from './mutex.js'
export type { Shards } from './shards.js'
export type { Isolation, Migration, NodeAdapter, Queryable, QueryOptions, Session, Tx } from './types.js'
