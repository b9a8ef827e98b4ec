import type { Broker } from '../broker/kit.js'
import type { Shards } from '../db/kit.js'

/**
 * The parts of concord/db's `Shards` and concord/broker's `Broker` the outbox uses. Declared as subsets so a
 * relay or an inbox can run on anything of this shape (a test can hand in one shard of a larger set).
 */
export type OutboxShards = Pick<Shards, 'count' | 'onShard' | 'execute' | 'withTransaction' | 'listen'>

/**
 * What the relay needs from a broker: durable, in-order, id-deduplicating publish that tells "the broker is
 * down" (`BrokerUnavailableError`: back off, no attempt counted) from "the broker refused this event"
 * (`MessageRejectedError`, naming the event: an attempt of that event, its aggregate waits, others flow).
 */
export type OutboxBroker = Pick<Broker, 'publish'>

/** What the invalidator needs from a broker. */
export type InvalidationBroker = Pick<Broker, 'subscribe'>
