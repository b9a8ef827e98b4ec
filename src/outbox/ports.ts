import type { Broker } from '../broker/kit.js'

/* The outbox's database port is concord/db's `ShardsCore`; its broker ports are subsets of `Broker`. */

/**
 * What the relay needs from a broker: durable, in-order, id-deduplicating publish that tells "the broker is
 * down" (`BrokerUnavailableError`: back off, no attempt counted) from "the broker refused this event"
 * (`MessageRejectedError`, naming the event: an attempt of that event, its aggregate waits, others flow).
 */
export type OutboxBroker = Pick<Broker, 'publish' | 'system'>

/** What the invalidator needs from a broker. */
export type InvalidationBroker = Pick<Broker, 'subscribe'>
