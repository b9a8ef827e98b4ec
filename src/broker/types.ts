import type { EventEnvelope } from './envelope.js'
import type { SubscribeOptions } from './subscribe-options.js'

/** What a handler learns about a delivery besides the event. */
export interface DeliveryMeta {
  /** 1 on the first handler call for this message, counting calls in this subscriber and earlier ones. */
  deliveryCount: number
  /** `deliveryCount > 1`: the event may have been (partly) handled before; handlers are idempotent by event id. */
  redelivered: boolean
}

/** Handles one delivered event; a throw makes the broker redeliver it after a backoff (or dead-letter it). */
export type EventHandler = (event: EventEnvelope, meta: DeliveryMeta) => Promise<void>

/** A message the subscriber gave up on, handed to `onDeadLetter` before it is acknowledged. */
export interface DeadLetter {
  topic: string
  group: string
  /** `'max-deliveries'`: the handler failed `maxDeliveries` times; `'malformed'`: the body is not an envelope. */
  reason: 'max-deliveries' | 'malformed'
  /** The decoded event; absent when the body is malformed. */
  event?: EventEnvelope
  /** The body exactly as stored in the broker. */
  data: Uint8Array
  /** The broker's id of the stored message (JetStream stream sequence, Redis Streams entry id). */
  messageId: string
  deliveryCount: number
  /** The handler's last error, a `MalformedEventError`, or a `DeliveryLimitError`. */
  error: unknown
}

/** What one subscriber did with its messages. */
export interface SubscriptionStats {
  /** Handler calls, retries included. */
  delivered: number
  /** Messages handled successfully and acknowledged. */
  acked: number
  /** Handler calls that threw (each is retried after its backoff, or dead-lettered). */
  nakked: number
  /** Messages handed to the dead letter and acknowledged. */
  deadLettered: number
  /** Messages this subscriber holds now, not yet settled. */
  pending: number
  /** Loop errors survived (connection trouble, a failing `onDeadLetter`); each was also passed to `onError`. */
  errors: number
}

/** A consumer group's subscription to a topic, from `broker.subscribe`. */
export interface Subscription {
  /**
   * Stops taking messages, waits for running handler calls to finish, and gives back the messages it held but
   * did not settle so the group receives them again. Idempotent.
   */
  close(): Promise<void>
  /** Counters of this subscriber since it subscribed. */
  stats(): SubscriptionStats
}

/** A broker's connection state, as `health()` reports it. */
export interface BrokerHealth {
  connected: boolean
  /** Open subscriptions. */
  subscriptions: number
  /** The last connection problem seen, if any (never includes credentials). */
  lastError?: string
}

/**
 * A durable, at-least-once event broker. Topics hold events; a group is a named, durable position in a topic:
 * its subscribers share the topic's messages, and every group receives every message.
 *
 * Guarantees, for every adapter:
 * - `publish` resolves only once every event is durably stored, in order; an event whose id was already
 *   published within the dedup window is accepted and dropped.
 * - every stored message reaches each group at least once; a subscriber handles the events of one aggregate
 *   one at a time in publish order, and a failed event is retried (after its backoff) before any later event
 *   of the same aggregate reaches the handler.
 * - after `maxDeliveries` failed handler calls, or when the body is not an envelope, the message goes to
 *   `onDeadLetter` and is acknowledged; the subscriber goes on.
 */
export interface Broker {
  /** What the broker is, as OpenTelemetry's `messaging.system` names it (`nats`, `redis`, ...), for spans. */
  readonly system?: string
  /**
   * Publishes events to `topic` in order; resolves once the broker has durably accepted every one.
   * Duplicate ids are accepted and dropped by the broker.
   * @throws BrokerUnavailableError when the broker does not accept them within the publish timeout.
   * @throws MalformedEventError when an event is not a valid envelope (nothing after it is published).
   */
  publish(topic: string, events: EventEnvelope[]): Promise<void>
  /**
   * Starts a subscriber in `group` (created durable on first use, from the start of the topic's retained
   * messages). Resolves once the subscriber is registered with the broker.
   */
  subscribe(
    topic: string,
    group: string,
    handler: EventHandler,
    opts?: SubscribeOptions,
  ): Promise<Subscription>
  /** Connection state and open subscriptions, for health checks and the dashboard. */
  health(): BrokerHealth
  /** Closes every subscription, then the connections. Idempotent. */
  close(): Promise<void>
}
