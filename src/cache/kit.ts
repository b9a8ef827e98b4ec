/**
 * The parts of concord/cache that adapters (src/redis, src/pg, src/nats, src/memory, ...) are built from.
 * Not a public subpath: other concept modules import `index.ts`, adapters this file.
 */
export type { Inspection } from './cache.js'
export { blobExpiry } from './envelope.js'
export { maxLsn } from './lsn.js'
export type { CacheStats } from './stats.js'
export type { AcquireRequest, AcquireResult, L2Tier } from './tier.js'
export { FillWaiters } from './waiters.js'
