import { createHash } from 'node:crypto'
import { z } from 'zod'
import type { EventEnvelope } from '../broker/kit.js'
import type { Connection, Queryable, ShardsCore, Tx } from '../db/kit.js'
import { assertConnection, explainMissingTable } from '../db/kit.js'
import { type Duration, durationMs, parseOptions } from '../options.js'
import { activeTraceparent, traced } from '../tracing.js'
import { assertEnvelope } from './envelope.js'
import { EventDeadLetteredError, HandlerFailedError, isPermanentError } from './errors.js'
import { describe } from './publish.js'
import { childTraceparent } from './trace.js'

export const schema = z.object({
  /**
   * The database(s) holding the consumer's data: concord/db's `Shards`, or one database on the application's pool
   * (`createShards({ primary: createPgNode({ pool }) })`). The dedup record is written in the handler's transaction.
   */
  shards: z.custom<ShardsCore>(
    (v) =>
      (['withTransaction', 'execute', 'shardFor', 'onShard'] as const).every(
        (m) => typeof (v as ShardsCore)?.[m] === 'function',
      ),
    'a Shards (withTransaction, execute, shardFor, onShard)',
  ),
  /** This consumer's name: dedup is per (consumer, event id), so two consumers each see every event once. */
  consumer: z.string().min(1).max(200),
  /** Failed attempts (across processes and redeliveries) before an event is dead-lettered. @default 5 */
  maxAttempts: z.number().int().positive().default(5),
  /** The shard key of the handler's transaction. @default the event's aggregateId */
  shardKeyFor: z.custom<(event: EventEnvelope) => string | number>((v) => typeof v === 'function').optional(),
  /** Errors no retry can cure: dead-lettered at once. @default MalformedEventError, PoisonEventError, E_INVALID_INPUT */
  isPermanent: z.custom<(error: unknown) => boolean>((v) => typeof v === 'function').optional(),
  /**
   * Hears each failed attempt (`HandlerFailedError`: event id, attempt, the handler's error as `cause`) and each
   * dead-lettering (`EventDeadLetteredError`), for logs and alerts; pass it the `onError` you give `subscribe`.
   * A throwing `onError` is ignored. @default none
   */
  onError: z
    .custom<(error: HandlerFailedError | EventDeadLetteredError) => void>((v) => typeof v === 'function')
    .optional(),
})

/** Options of `createInbox`. */
export interface InboxOptions {
  /** The shards holding the consumer's data; the dedup record is written in the handler's transaction. */
  shards: ShardsCore
  /** This consumer's name: dedup is per (consumer, event id), so two consumers each see every event once. */
  consumer: string
  /** Failed attempts (across processes and redeliveries) before an event is dead-lettered. @default 5 */
  maxAttempts?: number
  /** The shard key of the handler's transaction. @default the event's aggregateId */
  shardKeyFor?: (event: EventEnvelope) => string | number
  /** Errors no retry can cure: dead-lettered at once. @default MalformedEventError, PoisonEventError, E_INVALID_INPUT */
  isPermanent?: (error: unknown) => boolean
  /**
   * Hears each failed attempt (`HandlerFailedError`: event id, attempt, the handler's error as `cause`) and each
   * dead-lettering (`EventDeadLetteredError`), for logs and alerts; pass it the `onError` you give `subscribe`.
   * A throwing `onError` is ignored. @default none
   */
  onError?: (error: HandlerFailedError | EventDeadLetteredError) => void
}

/** What the handler gets besides its transaction and the event. */
export interface HandleContext {
  /** A child span of the event's trace, for the work this handler does. */
  traceparent: string
  /** 1 on the first attempt, counting failed attempts of earlier deliveries. */
  attempt: number
}

/** An event's effect, run in `tx` beside the dedup record: both commit or neither. */
export type InboxHandler<T> = (tx: Tx, event: EventEnvelope, ctx: HandleContext) => Promise<T>

/** `handle`'s outcome: run and committed (with the commit LSN), already handled, or given up on. */
export type HandleResult<T> =
  | { status: 'processed'; result: T; lsn: string }
  | { status: 'duplicate' }
  | { status: 'dead-lettered'; error: string }

/** `handleIn`'s outcome: the caller's transaction is not committed yet, so there is no commit LSN. */
export type HandleInResult<T> =
  | { status: 'processed'; result: T }
  | { status: 'duplicate' }
  | { status: 'dead-lettered'; error: string }

/** An event this consumer gave up on, with the reason. */
export interface InboxDeadLetter {
  consumer: string
  eventId: string
  /** The event as received (it may be malformed). */
  event: unknown
  error: string
  attempts: number
  deadAt: string
}

/** The consumer side: each event's effect once, in the consumer's own transaction. */
export interface Inbox {
  /**
   * Runs `handler` in a transaction on the event's shard, together with a dedup record of (consumer, event id):
   * an event already handled returns `duplicate` without running it. When the handler throws, the transaction
   * rolls back, the attempt is counted, and the error is rethrown (so the broker redelivers) until the last
   * allowed attempt, which dead-letters the event and returns `dead-lettered` (so the subscription goes on).
   * A malformed event or a permanent error is dead-lettered at once.
   */
  handle<T>(
    event: unknown,
    handler: InboxHandler<T>,
    opts?: { shardKey?: string | number },
  ): Promise<HandleResult<T>>
  /**
   * `handle` inside the caller's own transaction `tx` (a pg `PoolClient` after BEGIN, a concord `Tx`, an ORM
   * transaction through its adapter): the dedup record and `fn`'s effect commit or roll back with it.
   *
   * `fn` runs under a savepoint. When it throws, its work is rolled back to the savepoint (`tx` stays usable),
   * the attempt is counted on another connection of the consumer's shards (it must survive the caller's rollback),
   * and the error is rethrown, so the caller rolls back and the broker redelivers; the last allowed attempt (or a
   * permanent error, or a malformed event) dead-letters the event in `tx` instead and returns `dead-lettered`:
   * commit `tx` to keep that. `tx` must be on the database of the event's shard (`shardKey`, default by
   * `shardKeyFor`; a concord `Tx` tells its own). The count needs a second connection while `tx` is open: not
   * for PGlite (one connection) or a pool of one; use `handle` there.
   * @throws NotATransactionError for a `Pool`, or a client with no transaction open; nothing is written.
   */
  handleIn<T>(
    tx: Connection,
    event: unknown,
    fn: (event: EventEnvelope, ctx: HandleContext) => Promise<T>,
    opts?: { shardKey?: string | number },
  ): Promise<HandleInResult<T>>
  /** Dead letters of this consumer on every shard, oldest first. */
  deadLetters(limit?: number): Promise<InboxDeadLetter[]>
  /**
   * Takes an event out of the dead letter and forgets it was seen, so handling it again (a redelivery, or a
   * `handle` call with the returned event) runs the handler. Returns the event, or `undefined` if not found.
   */
  release(eventId: string): Promise<unknown>
  /** Deletes dedup records older than `olderThan` (`'7d'` or milliseconds); keep them longer than any redelivery can come. */
  prune(olderThan: Duration): Promise<number>
}

/** Inserts the dedup record; null when it was there (a duplicate), else this attempt's number. */
const MARK_SQL = `WITH marker AS (
   INSERT INTO concord_inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1
 )
 SELECT (SELECT attempts FROM concord_inbox_attempts WHERE consumer = $1 AND event_id = $2) AS attempts
 FROM marker`

/** Creates an inbox for one consumer. Needs `outboxMigrations` applied to the shards. */
export function createInbox(options: InboxOptions): Inbox {
  const o = parseOptions('createInbox', schema, options)
  const isPermanent = o.isPermanent ?? isPermanentError
  const shardKeyFor = o.shardKeyFor ?? ((e: EventEnvelope) => e.aggregateId)
  const shardList = () => [...Array(o.shards.count).keys()]
  const report = (error: HandlerFailedError | EventDeadLetteredError) => {
    try {
      o.onError?.(error)
    } catch {
      // A report hook must not change what happens to the event.
    }
  }

  async function mark(q: Queryable, eventId: string): Promise<number | null> {
    const { rows } = await q.query<{ attempts: number | null }>({
      name: 'concord_inbox_mark',
      text: MARK_SQL,
      values: [o.consumer, eventId],
    })
    return rows.length === 0 ? null : Number(rows[0]!.attempts ?? 0) + 1
  }

  async function clearAttempts(q: Queryable, eventId: string): Promise<void> {
    await q.query('DELETE FROM concord_inbox_attempts WHERE consumer = $1 AND event_id = $2', [
      o.consumer,
      eventId,
    ])
  }

  /** Counts a failed attempt in its own statement (autocommit), so it outlives the rolled-back transaction. */
  async function countAttempt(shard: number, eventId: string, reason: string): Promise<number> {
    const { rows } = await o.shards.execute<{ attempts: number }>(
      shard,
      `INSERT INTO concord_inbox_attempts (consumer, event_id, attempts, last_error) VALUES ($1, $2, 1, $3)
       ON CONFLICT (consumer, event_id) DO UPDATE
         SET attempts = concord_inbox_attempts.attempts + 1, last_error = $3, updated_at = now()
       RETURNING attempts`,
      [o.consumer, eventId, reason.slice(0, 4000)],
    )
    return Number(rows[0]!.attempts)
  }

  async function deadLetterIn(
    q: Queryable,
    eventId: string,
    event: unknown,
    error: unknown,
    attempts: number,
  ) {
    const reason = describe(error)
    await q.query(
      `INSERT INTO concord_inbox_dead_letter (consumer, event_id, event, error, attempts)
       VALUES ($1, $2, $3::json, $4, $5) ON CONFLICT (consumer, event_id) DO NOTHING`,
      [o.consumer, eventId, safeJson(event), reason.slice(0, 4000), attempts],
    )
    await q.query(
      `INSERT INTO concord_inbox (consumer, event_id, status) VALUES ($1, $2, 'dead') ON CONFLICT DO NOTHING`,
      [o.consumer, eventId],
    )
    await clearAttempts(q, eventId)
    report(new EventDeadLetteredError(o.consumer, eventId, attempts, error))
    return { status: 'dead-lettered' as const, error: reason }
  }

  /** Dead-letters in a transaction of its own; a malformed event may have no usable shard key: shard 0. */
  async function deadLetter(
    shardKey: string | number | null,
    eventId: string,
    event: unknown,
    error: unknown,
    attempts: number,
  ) {
    const run = (tx: Tx) => deadLetterIn(tx, eventId, event, error, attempts)
    const { result } =
      shardKey === null ? await o.shards.onShard(0, run) : await o.shards.withTransaction(shardKey, run)
    return result
  }

  return {
    async handle(event, handler, opts = {}) {
      try {
        assertEnvelope(event)
      } catch (error) {
        return deadLetter(null, malformedId(event), event, error, 1)
      }
      const shardKey = opts.shardKey ?? shardKeyFor(event)
      let attempt = 1
      try {
        const { result, lsn } = await o.shards.withTransaction(shardKey, async (tx) => {
          const next = await mark(tx, event.id)
          if (next === null) return { duplicate: true as const }
          attempt = next
          const value = await traced('inboxHandle', handleSpan(o.consumer, event, attempt), () =>
            handler(tx, event, { traceparent: handlerTraceparent(event), attempt }),
          )
          if (attempt > 1) await clearAttempts(tx, event.id)
          return { duplicate: false as const, value }
        })
        if (result.duplicate) return { status: 'duplicate' }
        return { status: 'processed', result: result.value, lsn }
      } catch (failure) {
        const error = explainMissingTable(failure)
        report(new HandlerFailedError(o.consumer, event.id, attempt, o.maxAttempts, error))
        if (isPermanent(error)) return deadLetter(shardKey, event.id, event, error, attempt)
        const attempts = await countAttempt(o.shards.shardFor(shardKey), event.id, describe(error))
        if (attempts >= o.maxAttempts) return deadLetter(shardKey, event.id, event, error, attempts)
        throw error
      }
    },
    async handleIn(tx, event, fn, opts = {}) {
      assertConnection(tx, 'inbox.handleIn')
      try {
        assertEnvelope(event)
      } catch (error) {
        return deadLetterIn(tx, malformedId(event), event, error, 1)
      }
      const shardKey = opts.shardKey ?? shardKeyFor(event)
      const shard = typeof (tx as Partial<Tx>).shard === 'number' ? (tx as Tx).shard : null
      let attempt = 1
      try {
        await tx.query('SAVEPOINT concord_inbox')
      } catch (error) {
        throw explainMissingTable(error)
      }
      try {
        const next = await mark(tx, event.id)
        if (next === null) {
          await tx.query('RELEASE SAVEPOINT concord_inbox')
          return { status: 'duplicate' }
        }
        attempt = next
        const result = await traced('inboxHandle', handleSpan(o.consumer, event, attempt), () =>
          fn(event, { traceparent: handlerTraceparent(event), attempt }),
        )
        if (attempt > 1) await clearAttempts(tx, event.id)
        await tx.query('RELEASE SAVEPOINT concord_inbox')
        return { status: 'processed', result }
      } catch (failure) {
        const error = explainMissingTable(failure)
        // Undo the handler's work (and the dedup record) and leave `tx` usable; a broken connection rethrows.
        try {
          await tx.query('ROLLBACK TO SAVEPOINT concord_inbox')
        } catch {
          throw error
        }
        report(new HandlerFailedError(o.consumer, event.id, attempt, o.maxAttempts, error))
        if (isPermanent(error)) return deadLetterIn(tx, event.id, event, error, attempt)
        const attempts = await countAttempt(shard ?? o.shards.shardFor(shardKey), event.id, describe(error))
        if (attempts >= o.maxAttempts) return deadLetterIn(tx, event.id, event, error, attempts)
        throw error
      }
    },
    async deadLetters(limit = 100) {
      const perShard = await Promise.all(
        shardList().map(async (shard) => {
          const { rows } = await o.shards.execute(
            shard,
            `SELECT * FROM concord_inbox_dead_letter WHERE consumer = $1 ORDER BY dead_at LIMIT $2`,
            [o.consumer, limit],
          )
          return rows.map((r) => ({
            consumer: String(r.consumer),
            eventId: String(r.event_id),
            event: r.event,
            error: String(r.error),
            attempts: Number(r.attempts),
            deadAt: r.dead_at instanceof Date ? r.dead_at.toISOString() : String(r.dead_at),
          }))
        }),
      )
      return perShard
        .flat()
        .sort((a, b) => a.deadAt.localeCompare(b.deadAt))
        .slice(0, limit)
    },
    async release(eventId) {
      for (const shard of shardList()) {
        const { result } = await o.shards.onShard(shard, async (tx) => {
          const { rows } = await tx.query<{ event: unknown }>(
            `DELETE FROM concord_inbox_dead_letter WHERE consumer = $1 AND event_id = $2 RETURNING event`,
            [o.consumer, eventId],
          )
          if (rows.length === 0) return undefined
          await tx.query(`DELETE FROM concord_inbox WHERE consumer = $1 AND event_id = $2`, [
            o.consumer,
            eventId,
          ])
          return { event: rows[0]!.event }
        })
        if (result) return result.event
      }
      return undefined
    },
    async prune(olderThan) {
      const olderThanMs = durationMs('Inbox.prune: olderThan', olderThan)
      let total = 0
      for (const shard of shardList()) {
        const { rowCount } = await o.shards.execute(
          shard,
          `DELETE FROM concord_inbox WHERE consumer = $1 AND status = 'processed'
           AND processed_at < now() - $2::double precision * interval '1 millisecond'`,
          [o.consumer, olderThanMs],
        )
        total += rowCount ?? 0
      }
      return total
    },
  }
}

/** A stable id for an event without a usable one, so its redeliveries land on the same dead letter. */
function malformedId(event: unknown): string {
  const id = (event as { id?: unknown } | null)?.id
  if (typeof id === 'string' && id.length > 0 && id.length <= 200) return id
  return `malformed:${createHash('sha256').update(safeJson(event)).digest('hex').slice(0, 32)}`
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null'
  } catch {
    return JSON.stringify(String(value))
  }
}

/** The inbox's span around a handler call: a child of the broker's `process` span when there is one. */
function handleSpan(consumer: string, event: EventEnvelope, attempt: number) {
  return {
    name: `handle ${consumer}`,
    kind: 'internal' as const,
    attributes: {
      'concord.inbox.consumer': consumer,
      'messaging.message.id': event.id,
      'concord.inbox.attempt': attempt,
      'db.system.name': 'postgresql',
    },
    // Called outside a broker's span (a replay, a test): the event's own trace is the parent.
    parent: activeTraceparent() === undefined ? event.headers?.traceparent : undefined,
  }
}

/** The handler's trace context: the inbox span's when a tracer is set, else a new child of the event's. */
function handlerTraceparent(event: EventEnvelope): string {
  return activeTraceparent() ?? childTraceparent(event.headers?.traceparent)
}
