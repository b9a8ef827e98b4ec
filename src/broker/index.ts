/**
 * concord/broker: the event broker port (adapters: concord/memory, concord/nats, concord/redis).
 * Every adapter passes the same contract suite (`runBrokerContract` in concord/testing); see README.md here for the semantics.
 */
export type { BackoffPolicy } from '../backoff.js'
export { decodeEnvelope, type EventEnvelope, encodeEnvelope, newEventId, orderingKey } from './envelope.js'
export {
  BrokerUnavailableError,
  DeliveryLimitError,
  MalformedEventError,
  MessageRejectedError,
} from './errors.js'
export type { SubscribeOptions } from './subscribe-options.js'
export type {
  Broker,
  BrokerHealth,
  DeadLetter,
  DeliveryMeta,
  EventHandler,
  Subscription,
  SubscriptionStats,
} from './types.js'
