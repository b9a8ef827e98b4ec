/**
 * concord/bus: cross-instance L1 invalidation (C2). `memoryBus()` for one process, `redisBus({ url | nodes |
 * client })` for real instances; both pass test/contract/bus.test.ts.
 */
export type {
  BusConnectOptions,
  BusMember,
  BusMemberStats,
  BusMessage,
  EarlyDelivery,
  InvalidationBus,
  ReceivedMessage,
} from './bus.js'
export { BusPublishError } from './errors.js'
export { type MemoryBus, type MemoryBusOptions, memoryBus } from './memory-bus.js'
export { type RedisBusOptions, redisBus } from './redis-bus.js'
export type { RedisClient, RedisTarget } from './redis-client.js'
