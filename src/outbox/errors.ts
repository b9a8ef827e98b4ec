import { MalformedEventError } from '../broker/kit.js'
import { ConcordError } from '../errors.js'

export { MalformedEventError }

/** `redrive` or `discard` named an event that is not dead-lettered (or does not exist) on any shard. */
export class DeadLetterNotFoundError extends ConcordError {
  constructor(id: string, where: 'outbox' | 'inbox') {
    super('E_DEAD_LETTER_NOT_FOUND', `no dead-lettered ${where} event with id ${id}`, {
      context: { id, where },
    })
  }
}

/**
 * A consumer handler declared an event impossible to process, whatever the number of attempts (a payload that
 * fails validation, a reference that can never resolve). `inbox.handle` dead-letters it at once instead of retrying.
 */
export class PoisonEventError extends ConcordError {
  constructor(reason: string, options: { context?: Record<string, unknown>; cause?: unknown } = {}) {
    super('E_POISON_EVENT', reason, options)
  }
}

/**
 * An event's broker topic is not a name every broker accepts (1-64 of `A-Z a-z 0-9 _ -`). The topic is the
 * event's `aggregateType` unless `createOutbox({ topicFor })` maps it; `context.source` says which one made it.
 * Nothing was written.
 */
export class InvalidTopicError extends ConcordError {
  constructor(
    topic: unknown,
    event: { id: string; aggregateType: string },
    source: 'aggregateType' | 'topicFor',
  ) {
    const from =
      source === 'aggregateType'
        ? `the event's aggregateType ${JSON.stringify(event.aggregateType)} (the topic by default): use a plain aggregateType such as 'order', or map it to a topic with createOutbox({ topicFor })`
        : `createOutbox({ topicFor }) returned it for aggregateType ${JSON.stringify(event.aggregateType)}`
    super(
      'E_INVALID_TOPIC',
      `event ${event.id} has topic ${JSON.stringify(topic)}, which is not 1-64 characters of A-Z, a-z, 0-9, _ and -: it comes from ${from}`,
      { context: { topic, eventId: event.id, aggregateType: event.aggregateType, source } },
    )
  }
}

/** A projection helper was given a table or column name that is not a plain SQL identifier. */
export class InvalidIdentifierError extends ConcordError {
  constructor(identifier: string) {
    super('E_INVALID_IDENTIFIER', `not a plain SQL identifier: ${JSON.stringify(identifier)}`, {
      context: { identifier },
    })
  }
}

/**
 * An inbox handler threw on one attempt of an event (given to the inbox's `onError`). The event is retried
 * (redelivered by the broker) until `maxAttempts`; `cause` is the handler's error.
 */
export class HandlerFailedError extends ConcordError {
  readonly eventId: string
  readonly attempt: number
  constructor(consumer: string, eventId: string, attempt: number, maxAttempts: number, cause: unknown) {
    super(
      'E_HANDLER_FAILED',
      `consumer ${consumer}: handler failed on event ${eventId}, attempt ${attempt} of ${maxAttempts}: ${describeError(cause)}`,
      { context: { consumer, eventId, attempt, maxAttempts }, cause },
    )
    this.eventId = eventId
    this.attempt = attempt
  }
}

/**
 * The inbox gave up on an event and dead-lettered it (given to the inbox's `onError`): its last allowed
 * attempt failed, the error is permanent, or the event is malformed. `inbox.release(eventId)` takes it back.
 */
export class EventDeadLetteredError extends ConcordError {
  readonly eventId: string
  readonly attempt: number
  constructor(consumer: string, eventId: string, attempt: number, cause: unknown) {
    super(
      'E_EVENT_DEAD_LETTERED',
      `consumer ${consumer}: event ${eventId} dead-lettered after attempt ${attempt}: ${describeError(cause)}`,
      { context: { consumer, eventId, attempt }, cause },
    )
    this.eventId = eventId
    this.attempt = attempt
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}

/** Is this error one that no retry can cure, so the event goes to the dead letter at once? */
export function isPermanentError(error: unknown): boolean {
  return (
    error instanceof MalformedEventError ||
    error instanceof PoisonEventError ||
    (error instanceof ConcordError && error.code === 'E_INVALID_INPUT')
  )
}

/**
 * A change feed cannot run on this database: PGlite (the embedded default) has no logical decoding, and a
 * PostgreSQL server needs `wal_level = logical` (a restart). Writes through the application stay consistent
 * through the synchronous invalidation and the outbox; writes made any other way reach caches only at the TTL.
 */
export class FeedUnavailableError extends ConcordError {
  constructor(reason: string, context: Record<string, unknown> = {}) {
    super('E_FEED_UNAVAILABLE', `change feed unavailable: ${reason}`, { context })
  }
}

/**
 * The feed's replication slot is in use by another consumer (`context.pid` is its server process). One feed
 * per slot: this one waits and takes over when that consumer goes away, or give each process its own slot.
 */
export class FeedSlotBusyError extends ConcordError {
  constructor(slot: string, pid: number | undefined, cause?: unknown) {
    super(
      'E_FEED_SLOT_BUSY',
      `replication slot ${slot} is in use by another consumer${pid ? ` (server pid ${pid})` : ''}; waiting for it to let go`,
      { context: { slot, pid }, cause },
    )
  }
}

/**
 * The feed's replication slot is gone: after a failover to a replica (slots are not carried to standbys before
 * PostgreSQL 17's failover slots) or a manual drop. Changes committed since are not in any slot: create the feed
 * again with `createSlot: true` and clear the mapped caches (or let their TTL run out) to cover the gap.
 */
export class FeedSlotMissingError extends ConcordError {
  constructor(slot: string) {
    super(
      'E_FEED_SLOT_MISSING',
      `replication slot ${slot} does not exist on this server (a failover, or dropped): changes since it was lost cannot be replayed; recreate it and clear the mapped caches`,
      { context: { slot } },
    )
  }
}
