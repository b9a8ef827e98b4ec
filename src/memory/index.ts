/**
 * concord/memory: in-process adapters of every port (an L2 tier, an invalidation bus, a broker, a saga log).
 * The embedded default and a real feature for one-process services and tests: each passes the same contract
 * suite as the adapters on servers (concord/testing). No dependencies.
 */
export { createMemoryBroker, type MemoryBroker, type MemoryBrokerOptions } from './broker.js'
export { createMemoryBus, type MemoryBus, type MemoryBusOptions } from './bus.js'
export { createMemorySagaLog } from './saga-log.js'
export { createMemoryTier } from './tier.js'
