/** The outbox fixtures are published with the contract suites (concord/testing). */
export { outOfOrder, recordingBroker } from '../../src/testing/outbox-fixtures.js'
