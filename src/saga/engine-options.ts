import { hostname } from 'node:os'
import { z } from 'zod'
import { type Duration, duration } from '../options.js'
import type { ResolvedStep } from './define.js'
import type { EffectPolicy } from './driver.js'
import type { SagaLog, SagaLogEntry, SagaRecord } from './types.js'

const fn = <T>() => z.custom<T>((v) => typeof v === 'function', 'a function')

const policy = (attempts: number, backoff: number, maxBackoff: number) =>
  z
    .object({
      attempts: z.number().int().min(1).default(attempts),
      backoff: duration.default(backoff),
      maxBackoff: duration.default(maxBackoff),
      timeout: duration.default(30_000),
    })
    .strict()
    .prefault({})

/** A write to the saga log, as the engine reports it (metrics, tests that crash at a boundary). */
export interface SagaEvent {
  saga: SagaRecord
  entries: SagaLogEntry[]
}

export const engineOptionsSchema = z
  .object({
    /** Where sagas are kept: `createSqlSagaLog(...)` (durable) or `createMemorySagaLog()`. */
    log: z.custom<SagaLog>((v) => typeof v === 'object' && v !== null && 'save' in v, 'a SagaLog'),
    /**
     * This process's name on the leases it takes. A process restarted under the same name takes its
     * own sagas back at once in `recover()`; give each live process its own name.
     * @default `${hostname}:${pid}:${random}`
     */
    owner: z.string().min(1).optional(),
    /** How long a lease lasts without renewal; a dead process's sagas wait this long. @default '15s' */
    lease: duration.default(15_000),
    /** `start()` runs `recover()` this often, to take over sagas of processes that died. @default '5s' */
    recoverEvery: duration.default(5_000),
    /** Sagas driven at once by `recover()`. @default 32 */
    concurrency: z.number().int().min(1).default(32),
    /** Actions before the pivot (and the pivot): attempts before the saga compensates. @default 3, 100ms..2s, 30s */
    action: policy(3, 100, 2_000),
    /** Actions after the pivot: attempts before NEEDS_ATTENTION. @default 10, 200ms..30s, 30s */
    forward: policy(10, 200, 30_000),
    /** Compensations: attempts before NEEDS_ATTENTION. @default 8, 200ms..30s, 30s */
    compensation: policy(8, 200, 30_000),
    /** Called when a saga driven here becomes NEEDS_ATTENTION (page someone). Errors are ignored. */
    onAlert: fn<(saga: SagaRecord) => void | Promise<void>>().optional(),
    /** Called after every write to the log, synchronously. Errors are ignored. */
    onEvent: fn<(event: SagaEvent) => void>().optional(),
  })
  .strict()

/** Retries of one kind of effect: attempts, the first and the largest pause between them, and each attempt's bound. */
export interface EffectRetryOptions {
  attempts?: number
  backoff?: Duration
  maxBackoff?: Duration
  timeout?: Duration
}

/** Options of `createSagaEngine`. */
export interface SagaEngineOptions {
  /** Where sagas are kept: `createSqlSagaLog(...)` (durable) or `createMemorySagaLog()`. */
  log: SagaLog
  /**
   * This process's name on the leases it takes. A process restarted under the same name takes its
   * own sagas back at once in `recover()`; give each live process its own name.
   * @default `${hostname}:${pid}:${random}`
   */
  owner?: string
  /** How long a lease lasts without renewal; a dead process's sagas wait this long. @default '15s' */
  lease?: Duration
  /** `start()` runs `recover()` this often, to take over sagas of processes that died. @default '5s' */
  recoverEvery?: Duration
  /** Sagas driven at once by `recover()`. @default 32 */
  concurrency?: number
  /** Actions before the pivot (and the pivot): attempts before the saga compensates. @default 3, 100ms..2s, 30s */
  action?: EffectRetryOptions
  /** Actions after the pivot: attempts before NEEDS_ATTENTION. @default 10, 200ms..30s, 30s */
  forward?: EffectRetryOptions
  /** Compensations: attempts before NEEDS_ATTENTION. @default 8, 200ms..30s, 30s */
  compensation?: EffectRetryOptions
  /** Called when a saga driven here becomes NEEDS_ATTENTION (page someone). Errors are ignored. */
  onAlert?: (saga: SagaRecord) => void | Promise<void>
  /** Called after every write to the log, synchronously. Errors are ignored. */
  onEvent?: (event: SagaEvent) => void
}
export type ParsedEngineOptions = z.output<typeof engineOptionsSchema>

export function defaultOwner(): string {
  return `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`
}

/** The policy for one effect: the step's own settings over the engine's. */
export function effectPolicy(
  options: ParsedEngineOptions,
  step: ResolvedStep<unknown>,
  phase: 'action' | 'compensate',
): EffectPolicy {
  const base =
    phase === 'compensate'
      ? options.compensation
      : step.kind === 'retriable'
        ? options.forward
        : options.action
  const own = phase === 'compensate' ? step.compensationRetry : step.retry
  return {
    attempts: own?.attempts ?? base.attempts,
    backoffMs: own?.backoffMs ?? base.backoff,
    maxBackoffMs: own?.maxBackoffMs ?? base.maxBackoff,
    timeoutMs: step.timeoutMs ?? base.timeout,
  }
}
