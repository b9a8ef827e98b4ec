/**
 * concord/outbox: the transactional outbox (C5) and the idempotent consumer (inbox) with version-checked
 * projections (C7).
 *
 * - `createOutbox().add(tx, event)` writes events in the business transaction; `addInvalidation` writes a
 *   durable cache invalidation beside them.
 * - `createRelay({ shards, broker })` publishes them: claim by aggregate with leases (FOR UPDATE SKIP LOCKED),
 *   publish outside any transaction, delete; per-aggregate order, backoff, parking, dead letters, redrive.
 * - `createInvalidator` applies durable invalidations; `createInbox().handle(event, fn)` runs each event's
 *   effect once; `applyIfNewer` keeps projections from regressing.
 */
export type { OutboxDeadLetter, OutboxShardStatus } from './admin.js'
export { type EventEnvelope, type EventInput, newEventId } from './envelope.js'
export {
  DeadLetterNotFoundError,
  EventDeadLetteredError,
  HandlerFailedError,
  InvalidIdentifierError,
  InvalidTopicError,
  isPermanentError,
  MalformedEventError,
  PoisonEventError,
} from './errors.js'
export {
  createInbox,
  type HandleContext,
  type HandleInResult,
  type HandleResult,
  type Inbox,
  type InboxDeadLetter,
  type InboxHandler,
  type InboxOptions,
} from './inbox.js'
export {
  createInvalidator,
  type InvalidationCache,
  type Invalidator,
  type InvalidatorOptions,
} from './invalidation.js'
export { outboxMigrations } from './migrations.js'
export type { InvalidationBroker, OutboxBroker } from './ports.js'
export { applyIfNewer, isNewer, type VersionedUpsert } from './projection.js'
export { createRelay, type Relay, type RelayStats } from './relay.js'
export type { RelayOptions } from './relay-options.js'
export { childTraceparent, isTraceparent, newTraceparent, traceIdOf } from './trace.js'
export {
  createOutbox,
  INVALIDATION_TOPIC,
  INVALIDATION_TYPE,
  type InvalidationTarget,
  OUTBOX_CHANNEL,
  type Outbox,
  type OutboxOptions,
} from './writer.js'
