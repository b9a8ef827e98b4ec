/**
 * What other folders of concord build on from this one (the adapters in src/redis, src/pg, ..., and modules layered
 * on it). Not a public subpath: the public API is index.ts.
 */
export type { Inspection } from './cache.js'
export { blobExpiry } from './envelope.js'
export { maxLsn } from './lsn.js'
export type { CacheStats } from './stats.js'
export type { AcquireRequest, AcquireResult, L2Tier } from './tier.js'
export { FillWaiters } from './waiters.js'
