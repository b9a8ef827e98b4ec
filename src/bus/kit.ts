/**
 * What other folders of concord build on from this one (the adapters in src/redis, src/pg, ..., and modules layered
 * on it). Not a public subpath: the public API is index.ts.
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
