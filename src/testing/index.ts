/**
 * concord/testing: the contract suites concord's own adapters pass, published so that an adapter written
 * elsewhere (an L2 tier, an invalidation bus, a broker, a saga log, a node adapter) runs the same tests.
 * Each `run*Contract` registers a vitest `describe` block; the caller passes factories (and URLs of its own
 * servers), never concord's test harness. Needs `vitest` (an optional peer dependency). See README.md.
 */
export { type BrokerContractOptions, type BrokerFixture, brokerEvent, runBrokerContract } from './broker.js'
export { type BusContractOptions, runBusContract } from './bus.js'
export { type NodeContractOptions, runNodeContract } from './node.js'
export { type OutboxContractOptions, runOutboxContract } from './outbox.js'
export { outOfOrder, type RecordingBroker, recordingBroker } from './outbox-fixtures.js'
export { runSagaLogContract, type SagaLogContractOptions } from './saga-log.js'
export { runTierContract, type TierContractOptions, type TierFixture } from './tier.js'
export { signal, sleep, waitFor } from './wait.js'
