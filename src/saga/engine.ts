import { type Duration, durationMs } from '../options.js'
import { createSagaAdmin, type SagaListFilter } from './admin.js'
import type { SagaDefinition } from './define.js'
import { EngineCore, type SagaRunOptions } from './engine-core.js'
import type { SagaEngineOptions } from './engine-options.js'
import { SagaNotFoundError, SagaStateError } from './errors.js'
import { outcomeOf, type SagaOutcome, waitSettled } from './outcome.js'
import { retryFromAttention } from './transitions.js'
import type { SagaLogEntry, SagaRecord, SagaStatus } from './types.js'

/** A saga bound to an engine. */
export interface RegisteredSaga<I> {
  readonly name: string
  /** Runs the saga to its end (or finds the one with this idempotency key) and reports how it ended. */
  run(input: I, options?: SagaRunOptions): Promise<SagaOutcome>
  /** Writes the saga to the log and returns its id at once; the engine drives it in the background. */
  submit(input: I, options?: SagaRunOptions): Promise<{ id: string; created: boolean }>
}

/** What `recover()` did. */
export interface RecoverySummary {
  resumed: number
  completed: number
  compensated: number
  needsAttention: number
  /** Stopped again here (lease lost, log unreachable, engine closed); still in the log. */
  interrupted: number
}

/** Orchestrates sagas on a durable log. Create it with `createSagaEngine()`. */
export interface SagaEngine {
  /** The name on this process's leases. */
  readonly owner: string
  /** Makes a saga runnable here; register every saga before `recover()` so it can resume them. */
  register<I>(def: SagaDefinition<I>): RegisteredSaga<I>
  /** Runs `def` to its end (or finds the saga with this idempotency key) and reports how it ended. */
  run<I>(def: SagaDefinition<I>, input: I, options?: SagaRunOptions): Promise<SagaOutcome>
  /** Writes the saga to the log and returns its id at once; the engine drives it in the background. */
  submit<I>(
    def: SagaDefinition<I>,
    input: I,
    options?: SagaRunOptions,
  ): Promise<{ id: string; created: boolean }>
  /** The saga's outcome once settled (or its state when `timeout` passes first; `'30s'` or milliseconds). */
  wait(id: string, options?: { timeout?: Duration }): Promise<SagaOutcome>
  /**
   * Resumes every unsettled saga of a registered name whose lease has expired (or that this owner held
   * in an earlier life): forward, or compensating in reverse order. Each is claimed by exactly one process.
   */
  recover(): Promise<RecoverySummary>
  /** Runs `recover()` now and then every `recoverEvery` until `close()`; resolves after the first pass. */
  start(): Promise<RecoverySummary>
  /** Admin: resumes a NEEDS_ATTENTION saga where it stopped, with fresh attempts. */
  retry(id: string): Promise<SagaOutcome>
  /** Admin: settles a NEEDS_ATTENTION saga by hand (the person fixed it), noting what was done. */
  resolve(id: string, resolution: { status: 'COMPLETED' | 'COMPENSATED'; note: string }): Promise<SagaOutcome>
  /** The saga with this id, if any. */
  get(id: string): Promise<SagaRecord | undefined>
  /** Sagas matching `filter`, most recently updated first. */
  list(filter?: SagaListFilter): Promise<SagaRecord[]>
  /** Sagas by status, every status present (0 when none). */
  counts(): Promise<Record<SagaStatus, number>>
  /** The saga's log entries, oldest first. */
  history(id: string): Promise<SagaLogEntry[]>
  /** Stops driving (at the next step boundary), releases this process's leases, stops recovery. */
  close(): Promise<void>
}

/**
 * Creates a saga engine (orchestrator) over a saga log.
 *
 * @example
 * const engine = createSagaEngine({ log: createSqlSagaLog({ db: sagaSqlFromShards(shards) }), onAlert: page })
 * const orders = engine.register(orderSaga)
 * await engine.start() // resume what an earlier process left unfinished
 * const outcome = await orders.run(order, { idempotencyKey: order.id })
 */
export function createSagaEngine(options: SagaEngineOptions): SagaEngine {
  const core = new EngineCore(options)
  const log = core.log
  const admin = createSagaAdmin({ log })
  let timer: NodeJS.Timeout | undefined
  let recovering: Promise<RecoverySummary> | undefined

  const run = async <I>(def: SagaDefinition<I>, input: I, opts: SagaRunOptions = {}) => {
    const begun = await core.begin(def as SagaDefinition<never>, input, opts)
    return core.outcome(begun.id, begun.done, begun.created)
  }
  const submit = async <I>(def: SagaDefinition<I>, input: I, opts: SagaRunOptions = {}) => {
    const { id, created, done } = await core.begin(def as SagaDefinition<never>, input, opts)
    done.catch(() => undefined) // an interrupted saga stays in the log for recovery
    return { id, created }
  }

  const recoverOnce = async (): Promise<RecoverySummary> => {
    const summary: RecoverySummary = {
      resumed: 0,
      completed: 0,
      compensated: 0,
      needsAttention: 0,
      interrupted: 0,
    }
    const names = [...core.definitions.keys()]
    const running = new Set<Promise<void>>()
    let exhausted = names.length === 0
    while (!core.closed && (!exhausted || running.size > 0)) {
      const free = core.options.concurrency - running.size
      if (!exhausted && free > 0) {
        const batch = await log.claim(names, core.lease, free, [...core.active.keys()])
        if (batch.length < free) exhausted = true
        for (const saga of batch) {
          summary.resumed += 1
          const one: Promise<void> = core
            .drive(saga)
            .then((done) => {
              if (done.status === 'COMPLETED') summary.completed += 1
              else if (done.status === 'COMPENSATED') summary.compensated += 1
              else summary.needsAttention += 1
            })
            .catch(() => {
              summary.interrupted += 1
            })
            .finally(() => running.delete(one))
          running.add(one)
        }
        if (batch.length > 0) continue
      }
      if (running.size > 0) await Promise.race(running)
    }
    return summary
  }
  const recover = () => {
    // Passes never overlap: a second caller shares the pass under way.
    recovering ??= recoverOnce().finally(() => {
      recovering = undefined
    })
    return recovering
  }

  return {
    owner: core.lease.owner,
    register<I>(def: SagaDefinition<I>): RegisteredSaga<I> {
      core.register(def as SagaDefinition<never>)
      return {
        name: def.name,
        run: (input, opts) => run(def, input, opts),
        submit: (input, opts) => submit(def, input, opts),
      }
    },
    run,
    submit,
    async wait(id, { timeout } = {}) {
      const timeoutMs = timeout === undefined ? undefined : durationMs('SagaEngine.wait: timeout', timeout)
      const mine = core.active.get(id)
      if (mine && timeoutMs === undefined) return core.outcome(id, mine, true)
      return outcomeOf(await waitSettled(log, id, core.pollMs, timeoutMs), true)
    },
    recover,
    async start() {
      const first = await recover()
      if (!timer && !core.closed) {
        timer = setInterval(() => void recover().catch(() => undefined), core.options.recoverEvery)
        timer.unref()
      }
      return first
    },
    async retry(id) {
      const saga = await log.claimOne(id, core.lease, ['NEEDS_ATTENTION'])
      if (!saga) {
        const found = await log.get(id)
        if (!found) throw new SagaNotFoundError(id)
        throw new SagaStateError(id, found.status, 'retry')
      }
      return core.outcome(id, core.drive(saga, retryFromAttention), false)
    },
    resolve: (id, resolution) => admin.resolve(id, resolution),
    get: (id) => admin.get(id),
    list: (filter) => admin.list(filter),
    counts: () => admin.counts(),
    history: (id) => admin.history(id),
    async close() {
      if (core.closed) return
      core.closed = true
      clearInterval(timer)
      const held = core.keeper.ids
      core.keeper.close('engine closed')
      await Promise.allSettled([...core.active.values()])
      await recovering?.catch(() => undefined)
      if (held.length > 0) await log.release(held, core.lease.owner).catch(() => undefined)
    },
  }
}
