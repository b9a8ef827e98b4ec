/**
 * The parts of concord/bus that adapters (src/redis, src/pg, src/nats, src/memory, ...) are built from.
 * Not a public subpath: other concept modules import `index.ts`, adapters this file.
 */
export { Batcher } from './batcher.js'
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
export { LagSamples } from './lag.js'
export { BusMonitor, type WireMessage } from './monitor.js'
