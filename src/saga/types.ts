/**
 * The saga log's records and its port. A saga's whole state is one record (its row in PostgreSQL);
 * every transition is written to it before the engine acts on it, together with log entries that
 * say what happened (an append-only history per saga).
 */

/**
 * A saga's status. RUNNING goes forward; COMPENSATING undoes the steps done, in reverse order.
 * COMPLETED, COMPENSATED and NEEDS_ATTENTION are where a saga stops; only an admin call moves a
 * saga out of NEEDS_ATTENTION.
 */
export type SagaStatus = 'RUNNING' | 'COMPENSATING' | 'COMPLETED' | 'COMPENSATED' | 'NEEDS_ATTENTION'

/** Every saga status, in lifecycle order (for listings and metrics). */
export const SAGA_STATUSES: readonly SagaStatus[] = [
  'RUNNING',
  'COMPENSATING',
  'COMPLETED',
  'COMPENSATED',
  'NEEDS_ATTENTION',
]

/** Statuses nobody drives: the saga has ended, or waits for a person. */
export const SETTLED: ReadonlySet<SagaStatus> = new Set(['COMPLETED', 'COMPENSATED', 'NEEDS_ATTENTION'])

/** A step's state in the log. RUNNING / COMPENSATING are written before the effect runs. */
export type StepStatus = 'PENDING' | 'RUNNING' | 'DONE' | 'FAILED' | 'COMPENSATING' | 'COMPENSATED'

/** An error as stored in the log (JSON). */
export interface SagaErrorInfo {
  step: string
  name: string
  code?: string
  message: string
}

/** A step's state as the log keeps it. */
export interface StepRecord {
  name: string
  status: StepStatus
  /** Attempts of the action so far (the one running included). */
  attempts: number
  /** Attempts of the compensation so far. */
  compensations: number
  output?: unknown
  error?: SagaErrorInfo
}

/** Why a saga waits for a person, and where `retry()` resumes it. */
export interface SagaAttention {
  /** `forward`: a step after the pivot kept failing; `compensate`: a compensation kept failing. */
  phase: 'forward' | 'compensate'
  step: string
  error: SagaErrorInfo
  /** Set by `resolve()`: what the person who resolved it wrote. */
  resolution?: string
}

/** A saga as the log keeps it: input, status, per-step state, the failure, and what waits for a person. */
export interface SagaRecord {
  id: string
  name: string
  idempotencyKey: string
  input: unknown
  status: SagaStatus
  /** The step being run (RUNNING) or compensated next (COMPENSATING). */
  cursor: number
  steps: StepRecord[]
  /** The failure that turned the saga to compensation. */
  error: SagaErrorInfo | null
  attention: SagaAttention | null
  createdAt: Date
  updatedAt: Date
}

/** One entry of a saga's history, e.g. `action:start` (before the effect) and `action:done` (after). */
export interface SagaLogEntry {
  step: string | null
  event: string
  attempt: number
  error?: SagaErrorInfo
  at?: Date
}

/** Who holds a saga, and for how long each write or renewal extends the hold. */
export interface Lease {
  owner: string
  ms: number
}

/** A saga to insert: everything but the timestamps. */
export type NewSaga = Omit<SagaRecord, 'createdAt' | 'updatedAt'>

/**
 * Where sagas are stored. A write happens only while the writer holds the saga's lease (the owner
 * column matches), so a process that lost its lease can never overwrite the new holder's progress.
 * Adapters: `createSqlSagaLog` (durable, PostgreSQL or PGlite), `createMemorySagaLog` (tests, single process).
 */
export interface SagaLog {
  /**
   * Inserts the saga held by `lease`, unless one with the same (name, idempotencyKey) exists:
   * then returns that one, unchanged, with `created: false`.
   */
  start(saga: NewSaga, lease: Lease, entries: SagaLogEntry[]): Promise<{ saga: SagaRecord; created: boolean }>
  /**
   * Writes the saga's new state and appends `entries`, if `lease.owner` still holds it; extends the
   * lease, or clears it once the saga is settled. Returns false (and writes nothing) if the lease is lost.
   */
  save(saga: SagaRecord, lease: Lease, entries: SagaLogEntry[]): Promise<boolean>
  /**
   * Takes the lease of up to `limit` unsettled sagas named in `names` whose lease has expired (or is
   * held by `lease.owner` itself, from an earlier life of this process, except the ids in `skip`).
   * Concurrent claimers never get the same saga.
   */
  claim(names: readonly string[], lease: Lease, limit: number, skip: readonly string[]): Promise<SagaRecord[]>
  /**
   * Takes the lease of one saga if its status is in `statuses` and nobody else holds a live lease,
   * optionally changing it first (an admin retry); returns it, or undefined.
   */
  claimOne(id: string, lease: Lease, statuses: readonly SagaStatus[]): Promise<SagaRecord | undefined>
  /** Extends the leases `lease.owner` holds among `ids`; returns the ids still held. */
  renew(ids: readonly string[], lease: Lease): Promise<string[]>
  /** Gives up the leases so another process may claim these sagas at once. */
  release(ids: readonly string[], owner: string): Promise<void>
  /** Sets a NEEDS_ATTENTION saga's status to COMPLETED or COMPENSATED, recording the resolution. */
  resolve(
    id: string,
    status: 'COMPLETED' | 'COMPENSATED',
    resolution: string,
  ): Promise<SagaRecord | undefined>
  /** The saga with this id, if any. */
  get(id: string): Promise<SagaRecord | undefined>
  /** The saga of this name and idempotency key, if any. */
  find(name: string, idempotencyKey: string): Promise<SagaRecord | undefined>
  /** Sagas matching `filter`, most recently updated first. */
  list(filter?: { status?: SagaStatus; name?: string; limit?: number }): Promise<SagaRecord[]>
  /** Sagas by status, every status present (0 when none). */
  counts(): Promise<Record<SagaStatus, number>>
  /** The saga's log entries, oldest first. */
  history(id: string): Promise<SagaLogEntry[]>
}
