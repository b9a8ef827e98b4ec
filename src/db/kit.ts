/**
 * What other folders of concord build on from this one (the adapters in src/redis, src/pg, ..., and modules layered
 * on it). Not a public subpath: the public API is index.ts.
 */

export { quoteChannel } from './channel.js'
export { DbClosedError, isConnectionError, TransactionRolledBackError } from './errors.js'
export { COMMIT_LSN_SQL, compareLsn, isLsn, lsnToBigInt } from './lsn.js'
export { Mutex } from './mutex.js'
export type { Shards } from './shards.js'
export type { Isolation, Migration, NodeAdapter, Queryable, QueryOptions, Session, Tx } from './types.js'
