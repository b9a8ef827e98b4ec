/**
 * concord/nats: the broker on NATS JetStream (optional peer dependencies `@nats-io/transport-node` and
 * `@nats-io/jetstream`).
 */
export { createNatsBroker, type NatsBrokerOptions } from './broker.js'
