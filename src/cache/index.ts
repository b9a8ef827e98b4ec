/**
 * concord/cache: a multi-level cache (L1 in-process, L2 shared) with cross-instance invalidation, fenced fills and
 * fail-safe reads (C1-C3), and replica-safe fills by commit LSN (C4). Ports only for the backends: the L2 tier
 * (`L2Tier`) and the invalidation bus (`InvalidationBus`); adapters live in concord/redis and concord/memory.
 */
export type {
  BusConnectOptions,
  BusMember,
  BusMemberStats,
  BusMessage,
  EarlyDelivery,
  InvalidationBus,
  ReceivedMessage,
} from '../bus/kit.js'
export { BusPublishError } from '../bus/kit.js'
export { Cache, createCache, type Inspection } from './cache.js'
export type { CacheOptions, EntryOptions } from './cache-options.js'
export { CircuitOpenError, InvalidationFailedError, InvalidKeyError, LoadTimeoutError } from './errors.js'
export type { LoadContext, Loader } from './lease.js'
export { jsonSerializer, type Serializer } from './serializer.js'
export type { CacheStats } from './stats.js'
export type { AcquireRequest, AcquireResult, Announcement, L2Tier } from './tier.js'
