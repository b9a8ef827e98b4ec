import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { parseOptions } from '../options.js'
import { SagaNotFoundError, SagaStateError } from './errors.js'
import { outcomeOf, type SagaOutcome } from './outcome.js'
import { retryFromAttention } from './transitions.js'
import type { SagaLog, SagaLogEntry, SagaRecord, SagaStatus } from './types.js'

const schema = z.object({
  /** The saga log to read: `createSqlSagaLog(...)` or `createMemorySagaLog()`. */
  log: z.custom<SagaLog>((v) => typeof (v as SagaLog)?.counts === 'function', 'a SagaLog'),
})

/** Options of {@link createSagaAdmin}. */
export interface SagaAdminOptions {
  /** The saga log to read: `createSqlSagaLog(...)` or `createMemorySagaLog()`. */
  log: SagaLog
}

/** A filter for {@link SagaAdmin.list}. */
export interface SagaListFilter {
  status?: SagaStatus
  name?: string
  /** @default 100 */
  limit?: number
}

/**
 * Sagas as an operator sees them, straight from the log: counts, listings, one saga and its history, and
 * settling a NEEDS_ATTENTION saga by hand. It needs no engine and registers no saga, so a status page or a
 * script can use it beside (or without) the processes that drive sagas. Resuming a saga (`engine.retry`)
 * runs its steps and stays on the engine.
 */
export interface SagaAdmin {
  /** The saga with this id, if any. */
  get(id: string): Promise<SagaRecord | undefined>
  /** The saga with this idempotency key, if any. */
  find(name: string, idempotencyKey: string): Promise<SagaRecord | undefined>
  /** Sagas, most recently updated first. */
  list(filter?: SagaListFilter): Promise<SagaRecord[]>
  /** Sagas by status, every status present (0 when none). */
  counts(): Promise<Record<SagaStatus, number>>
  /** The saga's log entries, oldest first: what ran, failed and was compensated. */
  history(id: string): Promise<SagaLogEntry[]>
  /**
   * Settles a NEEDS_ATTENTION saga by hand (the person fixed it), noting what was done.
   * @throws SagaNotFoundError, SagaStateError (the saga is not NEEDS_ATTENTION)
   */
  resolve(id: string, resolution: { status: 'COMPLETED' | 'COMPENSATED'; note: string }): Promise<SagaOutcome>
  /**
   * Hands a NEEDS_ATTENTION saga back to the engines: it resumes where it stopped (the failed step, or the
   * failed compensation) and an engine that registered its definition drives it at its next recovery pass. For
   * a process that runs no engine (the CLI); an engine's own `retry` drives it at once.
   * @throws SagaNotFoundError, SagaStateError (the saga is not NEEDS_ATTENTION, or an engine holds it)
   */
  retry(id: string): Promise<SagaRecord>
}

/**
 * A read-only view of the saga log (plus `resolve`). An engine's `get`, `list`, `counts`, `history` and
 * `resolve` are this handle's.
 *
 * @example
 * const sagas = createSagaAdmin({ log: createSqlSagaLog({ db: sagaSqlFromShards(shards) }) })
 * const { NEEDS_ATTENTION } = await sagas.counts()
 */
export function createSagaAdmin(options: SagaAdminOptions): SagaAdmin {
  const { log } = parseOptions('createSagaAdmin', schema, options)
  return {
    get: (id) => log.get(id),
    find: (name, key) => log.find(name, key),
    list: (filter) => log.list(filter),
    counts: () => log.counts(),
    history: (id) => log.history(id),
    async resolve(id, { status, note }) {
      const resolved = await log.resolve(id, status, note)
      if (resolved) return outcomeOf(resolved, false)
      const found = await log.get(id)
      if (!found) throw new SagaNotFoundError(id)
      throw new SagaStateError(id, found.status, `resolve as ${status}`)
    },
    async retry(id) {
      const lease = { owner: `admin-${randomBytes(4).toString('hex')}`, ms: 30_000 }
      const saga = await log.claimOne(id, lease, ['NEEDS_ATTENTION'])
      if (!saga) {
        const found = await log.get(id)
        if (!found) throw new SagaNotFoundError(id)
        throw new SagaStateError(id, found.status, 'retry')
      }
      const entries = retryFromAttention(saga)
      if (!(await log.save(saga, lease, entries))) throw new SagaStateError(id, saga.status, 'retry')
      await log.release([id], lease.owner)
      return saga
    },
  }
}
