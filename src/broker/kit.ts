/**
 * What other folders of concord build on from this one (the adapters in src/redis, src/pg, ..., and modules layered
 * on it). Not a public subpath: the public API is index.ts.
 */
export { StopSignal, within } from './bounded.js'
export { type EventEnvelope, encodeEnvelope, newEventId, orderingKey } from './envelope.js'
export { BrokerUnavailableError, MalformedEventError, MessageRejectedError } from './errors.js'
export { type InboundMessage, KeyedDispatcher } from './keyed-dispatcher.js'
export { sendInKeyOrder } from './keyed-send.js'
export { checkName } from './names.js'
export {
  parseSubscribeOptions,
  type ResolvedSubscribeOptions,
  type SubscribeOptions,
} from './subscribe-options.js'
export { track } from './track.js'
export type { Broker, BrokerHealth, EventHandler, Subscription } from './types.js'
