/**
 * The parts of concord/broker that adapters (src/redis, src/pg, src/nats, src/memory, ...) are built from.
 * Not a public subpath: other concept modules import `index.ts`, adapters this file.
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
