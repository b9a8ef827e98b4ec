import { z } from 'zod'
import { checkName } from '../broker/kit.js'
import type { Connection } from '../db/kit.js'
import { assertConnection, explainMissingTable } from '../db/kit.js'
import { InvalidInputError } from '../errors.js'
import { parseOptions } from '../options.js'
import { activeTraceparent } from '../tracing.js'
import { type EventEnvelope, type EventInput, newEventId, prepareEvent } from './envelope.js'
import { InvalidTopicError } from './errors.js'

/** The LISTEN/NOTIFY channel a writer notifies and a relay listens on (a hint only: relays also poll). */
export const OUTBOX_CHANNEL = 'concord_outbox'
/** Inserts of up to this many events are prepared statements (one name per count). */
const PREPARED_UP_TO = 8
/** The topic durable cache invalidations travel on. */
export const INVALIDATION_TOPIC = 'concord-invalidations'
/** The `type` of an invalidation record. */
export const INVALIDATION_TYPE = 'concord.invalidate'

export const schema = z.object({
  /** The broker topic of an event. @default the event's aggregateType */
  topicFor: z.custom<(event: EventEnvelope) => string>((v) => typeof v === 'function').optional(),
  /** The caller's active trace (e.g. OpenTelemetry's), used when an event has no `traceparent` header. */
  currentTraceparent: z.custom<() => string | undefined>((v) => typeof v === 'function').optional(),
  /** Topic of `addInvalidation` records. @default 'concord-invalidations' */
  invalidationTopic: z.string().min(1).default(INVALIDATION_TOPIC),
  /** Send NOTIFY so relays wake at once instead of at their next poll. @default true */
  notify: z.boolean().default(true),
})

/** Options of `createOutbox`. */
export interface OutboxOptions {
  /** The broker topic of an event. @default the event's aggregateType */
  topicFor?: (event: EventEnvelope) => string
  /** The caller's active trace (e.g. OpenTelemetry's), used when an event has no `traceparent` header. */
  currentTraceparent?: () => string
  /** Topic of `addInvalidation` records. @default 'concord-invalidations' */
  invalidationTopic?: string
  /** Send NOTIFY so relays wake at once instead of at their next poll. @default true */
  notify?: boolean
}

/** Keys of one cache to invalidate once the writing transaction's change is published. */
export interface InvalidationTarget {
  /** The cache's name, as the invalidator knows it. */
  cache: string
  keys: string[]
}

/** The writer side of the outbox: adds events inside the caller's business transaction. */
export interface Outbox {
  /**
   * Adds events to the outbox in `tx`, the business transaction: they are published if and only if it commits.
   * Fills in a UUIDv7 `id`, `createdAt` and a `traceparent` where missing. Returns the envelopes as stored.
   * @throws MalformedEventError (E_MALFORMED_EVENT) for an invalid event; nothing is written.
   */
  add(tx: Connection, events: EventInput | EventInput[]): Promise<EventEnvelope[]>
  /**
   * Adds a durable invalidation record in `tx`: if the writer dies after its commit and before its own
   * (synchronous) invalidation, the relay and an invalidator (`createInvalidator`) apply it instead.
   */
  addInvalidation(tx: Connection, target: InvalidationTarget): Promise<EventEnvelope>
}

/** Creates the outbox writer. Options are parsed once; see {@link OutboxOptions}. */
export function createOutbox(options: OutboxOptions = {}): Outbox {
  const o = parseOptions('createOutbox', schema, options)
  const topicFor = o.topicFor ?? ((event: EventEnvelope) => event.aggregateType)
  const topicSource = o.topicFor ? 'topicFor' : 'aggregateType'

  async function insert(
    tx: Connection,
    inputs: EventInput[],
    topicOf: (e: EventEnvelope) => string,
    where: string,
  ) {
    assertConnection(tx, where)
    // Validate everything before the first statement, so a bad event leaves the transaction untouched.
    const prepared = inputs.map((input) => prepareEvent(input, o.currentTraceparent ?? activeTraceparent))
    if (prepared.length === 0) return []
    // Every broker adapter accepts these names; refusing others here beats a dead letter later.
    const topics = prepared.map((p) => {
      const topic = topicOf(p.envelope)
      try {
        checkName('topic', topic)
      } catch {
        throw new InvalidTopicError(topic, p.envelope, topicSource)
      }
      return topic
    })
    const columns = 9
    const values: string[] = []
    const params: unknown[] = []
    prepared.forEach(({ envelope: e, payloadJson, headersJson }, i) => {
      const b = i * columns
      values.push(
        `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}::json, $${b + 8}::json, $${b + 9})`,
      )
      params.push(
        e.id,
        topics[i],
        e.aggregateType,
        e.aggregateId,
        e.aggregateVersion,
        e.type,
        payloadJson,
        headersJson,
        e.createdAt,
      )
    })
    const insert = `INSERT INTO concord_outbox (id, topic, aggregate_type, aggregate_id, aggregate_version, type, payload, headers, created_at)
       VALUES ${values.join(', ')}`
    // NOTIFY is delivered at commit, never for a rollback, and folded into one per channel per transaction.
    // Sent in the INSERT's statement (a data-modifying WITH always runs): one round trip less per write.
    // The notify row is a plain 1: a void column is more than some clients (Prisma's raw queries) can read.
    const text = o.notify
      ? `WITH ins AS (${insert}) SELECT 1 AS notified FROM pg_notify('${OUTBOX_CHANNEL}', '')`
      : insert
    // Prepared for the usual few events per transaction; larger batches vary too much to be worth a name.
    const name =
      prepared.length <= PREPARED_UP_TO
        ? `concord_outbox_add_${prepared.length}${o.notify ? 'n' : ''}`
        : undefined
    await tx.query(name ? { name, text, values: params } : { text, values: params }).catch((error) => {
      throw explainMissingTable(error)
    })
    return prepared.map((p) => p.envelope)
  }

  return {
    add: (tx, events) => insert(tx, Array.isArray(events) ? events : [events], topicFor, 'outbox.add'),
    async addInvalidation(tx, target) {
      if (typeof target?.cache !== 'string' || target.cache.length === 0) {
        throw new InvalidInputError('addInvalidation: cache must be a non-empty string', {
          cache: target?.cache,
        })
      }
      if (!Array.isArray(target.keys) || !target.keys.every((k) => typeof k === 'string')) {
        throw new InvalidInputError('addInvalidation: keys must be an array of strings', {
          keys: target.keys,
        })
      }
      const id = newEventId()
      const [envelope] = await insert(
        tx,
        [
          {
            // Each record is its own aggregate: invalidations commute, so none waits for another.
            aggregateType: 'concord-cache',
            id,
            aggregateId: `${target.cache}:${id}`,
            aggregateVersion: 0,
            type: INVALIDATION_TYPE,
            payload: { cache: target.cache, keys: target.keys },
          },
        ],
        () => o.invalidationTopic,
        'outbox.addInvalidation',
      )
      return envelope!
    },
  }
}
