/**
 * concord/outbox: the transactional outbox (C5) and the idempotent consumer (inbox) with version-checked
 * projections (C7).
 *
 * - `createOutbox().add(tx, event)` writes events in the business transaction; `addInvalidation` writes a
 *   durable cache invalidation beside them.
 * - `createRelay({ shards, broker })` publishes them: claim by aggregate with leases (FOR UPDATE SKIP LOCKED),
 *   publish outside any transaction, delete; per-aggregate order, backoff, parking, dead letters, redrive.
 * - `createOutboxAdmin({ shards })` reads status and dead letters, and redrives or discards one, with no relay.
 * - `createInvalidator` applies durable invalidations; `createInbox().handle(event, fn)` runs each event's
 *   effect once; `applyIfNewer` keeps projections from regressing.
 */
export {
  createOutboxAdmin,
  type OutboxAdmin,
  type OutboxAdminOptions,
  type OutboxAdminShards,
  type OutboxDeadLetter,
  type OutboxShardStatus,
} from './admin.js'
export type { EventInput } from './envelope.js'
export {
  DeadLetterNotFoundError,
  EventDeadLetteredError,
  FeedSlotBusyError,
  FeedSlotMissingError,
  FeedUnavailableError,
  HandlerFailedError,
  InvalidIdentifierError,
  InvalidTopicError,
  PoisonEventError,
} from './errors.js'
export type {
  FeedCache,
  FeedEventInput,
  FeedTableMapping,
  FeedTransaction,
  RowChange,
} from './feed.js'
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
export { applyIfNewer, type VersionedUpsert } from './projection.js'
export { createRelay, type Relay, type RelayStats } from './relay.js'
export type { RelayOptions } from './relay-options.js'
export {
  createOutbox,
  type InvalidationTarget,
  type Outbox,
  type OutboxOptions,
} from './writer.js'
