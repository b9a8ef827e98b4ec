/**
 * concord/cache: a multi-level cache (L1 in-process, L2 shared) with cross-instance invalidation, fenced fills and
 * fail-safe reads (DESIGN.md C1-C3), and the LSN helpers for replica-safe fills (C4).
 */
export { memoryBus, redisBus } from '../bus/index.js'
export { Cache, createCache, type Inspection } from './cache.js'
export type { CacheOptions, EntryOptions } from './cache-options.js'
export { CircuitOpenError, InvalidationFailedError, InvalidKeyError, LoadTimeoutError } from './errors.js'
export type { LoadContext, Loader } from './lease.js'
export { compareLsn, isLsn, lsnToBigInt, maxLsn } from './lsn.js'
export { memoryTier } from './memory-tier.js'
export { type RedisTierOptions, redisTier } from './redis-tier.js'
export { jsonSerializer, msgpackSerializer, type Serializer } from './serializer.js'
export type { CacheStats } from './stats.js'
export type { AcquireRequest, AcquireResult, Announcement, L2Tier } from './tier.js'
