import type { EventEnvelope } from '../broker/kit.js'
import type { Connection, Queryable, Tx } from '../db/kit.js'
import { InvalidInputError } from '../errors.js'
import type { HandleResult, Inbox } from '../outbox/kit.js'
import { SagaDefinitionError, SagaEffectCancelledError } from './errors.js'
import { compensateOnce, once } from './once.js'

/**
 * Choreography: the event-driven variant of a saga. No orchestrator: a process (an order) starts
 * PENDING and emits an event; participants react through the inbox and answer with events through the
 * outbox; the process is CONFIRMED once every awaited event arrived, or CANCELLED at the first failure
 * event, and then emits a cancel event to which each participant reacts by undoing its effect (once,
 * and only if it took effect), answering with a compensating event. Effects are keyed
 * `${processId}:${step}:action` / `:compensate` like a saga's, so the orderings a broker may deliver
 * (a cancel before the reservation it cancels) end in the same state.
 */

export type ProcessStatus = 'PENDING' | 'CONFIRMED' | 'CANCELLED'

/** A process run by choreography: which events confirm it and which cancel it. */
export interface ChoreographyDefinition {
  /** The process kind, e.g. 'order'. */
  name: string
  /** Event types that together confirm the process, e.g. ['StockReserved', 'PointsUsed']. */
  awaits: string[]
  /** Event types that cancel it, e.g. ['StockRejected', 'PointsRejected']. */
  failures: string[]
}

/** What recording one event did to its process. */
export interface ProcessTransition {
  status: ProcessStatus
  /** Set when this event ended the process: emit the confirmation or the cancel event now. */
  transition: 'CONFIRMED' | 'CANCELLED' | null
  /** A success event that arrived after the process was cancelled: its effect gets undone by the cancel. */
  late: boolean
}

/** A running choreography: records the events of each process and says when it is confirmed or cancelled. */
export interface Choreography {
  readonly name: string
  /** Starts a process PENDING, in the transaction that emits its first event. False if it exists. */
  start(tx: Connection, processId: string): Promise<boolean>
  /** Records a participant's answer in the consumer's (inbox) transaction; returns the transition. */
  record(tx: Connection, processId: string, eventType: string): Promise<ProcessTransition>
  /** Where the process is now. */
  status(
    q: Queryable,
    processId: string,
  ): Promise<{ status: ProcessStatus; received: string[]; reason: string | null } | undefined>
}

/** Defines a choreographed process. Apply `sagaMigrations` (table `concord_choreography`) to its shards. */
export function defineChoreography(def: ChoreographyDefinition): Choreography {
  const { name, awaits, failures } = def
  if (!name || awaits.length === 0)
    throw new SagaDefinitionError(name ?? '', 'a choreography needs a name and awaited events')
  const overlap = awaits.filter((t) => failures.includes(t))
  if (overlap.length > 0)
    throw new SagaDefinitionError(name, `events both awaited and failing: ${overlap.join(', ')}`)
  return {
    name,
    async start(tx, processId) {
      const { rows } = await tx.query(
        `INSERT INTO concord_choreography (name, process_id, status) VALUES ($1, $2, 'PENDING')
         ON CONFLICT (name, process_id) DO NOTHING RETURNING process_id`,
        [name, processId],
      )
      return rows.length > 0
    },
    async record(tx, processId, eventType) {
      const { rows } = await tx.query(
        'SELECT status, received FROM concord_choreography WHERE name = $1 AND process_id = $2 FOR UPDATE',
        [name, processId],
      )
      const row = rows[0] as { status: ProcessStatus; received: string[] } | undefined
      if (!row) throw new InvalidInputError(`no ${name} process ${processId}`, { name, processId })
      const failing = failures.includes(eventType)
      if (!failing && !awaits.includes(eventType)) {
        throw new InvalidInputError(`${eventType} is not an event of ${name}`, { name, eventType })
      }
      if (row.status !== 'PENDING')
        return { status: row.status, transition: null, late: !failing && row.status === 'CANCELLED' }
      const received = row.received.includes(eventType) ? row.received : [...row.received, eventType]
      const status: ProcessStatus = failing
        ? 'CANCELLED'
        : awaits.every((t) => received.includes(t))
          ? 'CONFIRMED'
          : 'PENDING'
      await tx.query(
        `UPDATE concord_choreography SET status = $3, received = $4::text[], reason = $5, updated_at = now()
         WHERE name = $1 AND process_id = $2`,
        [name, processId, status, received, failing ? eventType : null],
      )
      return { status, transition: status === 'PENDING' ? null : status, late: false }
    },
    async status(q, processId) {
      const { rows } = await q.query(
        'SELECT status, received, reason FROM concord_choreography WHERE name = $1 AND process_id = $2',
        [name, processId],
      )
      return rows[0] as { status: ProcessStatus; received: string[]; reason: string | null } | undefined
    },
  }
}

/**
 * A participant's reaction to the process's first event, once per (process, step), in the inbox
 * transaction: `{ applied: true, result }`, or `{ applied: false }` when the process's cancel reached
 * this participant first (the effect must then not happen, and nothing is answered).
 */
export async function reactOnce<T>(
  tx: Connection,
  processId: string,
  step: string,
  fn: () => Promise<T> | T,
): Promise<{ applied: true; result: T } | { applied: false }> {
  try {
    return { applied: true, result: await once(tx, `${processId}:${step}:action`, fn) }
  } catch (error) {
    if (error instanceof SagaEffectCancelledError) return { applied: false }
    throw error
  }
}

/**
 * A participant's reaction to the process's cancel event: undoes its effect once, and only if it took
 * effect (`fn` gets its result); if it never did, it never will. True if `fn` ran now: answer with the
 * compensating event (StockRestored, PointsRefunded) in the same transaction.
 */
export function undoOnce<R>(
  tx: Connection,
  processId: string,
  step: string,
  fn: (result: R) => Promise<unknown> | unknown,
): Promise<boolean> {
  return compensateOnce<R>(
    tx,
    { actionKey: `${processId}:${step}:action`, compensationKey: `${processId}:${step}:compensate` },
    fn,
  )
}

/**
 * The process side as one broker handler: each participant answer goes through the inbox (once per
 * event id), is recorded on the process in that transaction, and `onEnd` runs there when it ends the
 * process, to update the business row and add the confirmation or cancel event to the outbox.
 */
export function processHandler(options: {
  process: Choreography
  inbox: Inbox
  processIdOf: (event: EventEnvelope) => string
  /** The shard key the process row was started under. @default the process id */
  shardKeyOf?: (processId: string) => string | number
  onEnd: (tx: Tx, processId: string, end: 'CONFIRMED' | 'CANCELLED', event: EventEnvelope) => Promise<void>
}): (event: EventEnvelope) => Promise<HandleResult<ProcessTransition>> {
  const { process, inbox, processIdOf, onEnd } = options
  const shardKeyOf = options.shardKeyOf ?? ((id: string) => id)
  return (event) =>
    inbox.handle(
      event,
      async (tx, e) => {
        const id = processIdOf(e)
        const t = await process.record(tx, id, e.type)
        if (t.transition) await onEnd(tx, id, t.transition, e)
        return t
      },
      { shardKey: shardKeyOf(processIdOf(event)) },
    )
}
