import { z } from 'zod'
import { type Duration, duration } from '../options.js'
import { SagaDefinitionError } from './errors.js'

/**
 * What a step's action or compensation receives. `idempotencyKey` is stable across retries, crashes
 * and processes (`${sagaId}:${step}:action` or `:compensate`): a participant records it in its own
 * transaction (see `once` / `compensateOnce`) so a retried effect happens once.
 */
export interface StepContext<I = unknown> {
  sagaId: string
  saga: string
  step: string
  input: I
  /** The key of this effect: the action's key in `action`, the compensation's key in `compensate`. */
  idempotencyKey: string
  /** The action's key, also in `compensate`: `compensateOnce` cancels it if the action never ran. */
  actionKey: string
  /** The compensation's key. */
  compensationKey: string
  /** 1 on the first attempt of this action (or compensation), counted across crashes. */
  attempt: number
  /** Outputs of the steps done so far, by step name. */
  outputs: Readonly<Record<string, unknown>>
  /** Aborted when the step's timeout passes or the engine closes; pass it to what the step awaits. */
  signal: AbortSignal
}

/**
 * How a step behaves on failure, in saga terms:
 * - `compensatable`: may be undone; its failure makes the saga compensate the steps before it.
 * - `pivot`: the go/no-go step; once it is done the saga only goes forward.
 * - `retriable`: after the pivot; retried until it succeeds (or, exhausted, NEEDS_ATTENTION).
 * Steps must come in that order: compensatable*, pivot?, retriable*.
 */
export type StepKind = 'compensatable' | 'pivot' | 'retriable'

/** How a failing step action (or compensation) is retried before the saga compensates or waits for a person. */
export interface StepRetryPolicy {
  /** Attempts in all, the first included. */
  attempts?: number
  /** Delay before the second attempt; doubles each time (with jitter), up to `maxBackoff`. */
  backoff?: Duration
  maxBackoff?: Duration
}

/** One step of a saga: its action, its compensation, its kind and retry policy. */
export interface SagaStep<I = unknown> {
  name: string
  /** @default 'compensatable' */
  kind?: StepKind
  /** Does the step's work; returns a JSON value, kept in the log and given to later steps. */
  action(ctx: StepContext<I>): Promise<unknown> | unknown
  /**
   * Undoes the action. It may run although the action never took effect (a failed or timed-out
   * attempt), so it must tolerate that: `compensateOnce` does. Required for compensatable steps.
   * Optional on the pivot, where it runs only if the pivot failed (an attempt may have committed
   * unseen); a pivot that is done is never compensated.
   */
  compensate?(ctx: StepContext<I>): Promise<unknown> | unknown
  /** Per attempt, of the action and of the compensation. @default the engine's */
  timeout?: Duration
  /** Retries of the action before the saga compensates (or, after the pivot, goes to attention). */
  retry?: StepRetryPolicy
  /** Retries of the compensation before the saga is NEEDS_ATTENTION. */
  compensationRetry?: StepRetryPolicy
}

/** A validated saga: pass it to `engine.register()`. */
export interface SagaDefinition<I = unknown> {
  readonly name: string
  readonly steps: readonly Readonly<ResolvedStep<I>>[]
}

export interface ResolvedStep<I = unknown> extends SagaStep<I> {
  kind: StepKind
  timeoutMs?: number
  retry?: ResolvedRetry
  compensationRetry?: ResolvedRetry
}

export interface ResolvedRetry {
  attempts?: number
  backoffMs?: number
  maxBackoffMs?: number
}

const fn = z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', 'a function')

const retry = z
  .object({
    attempts: z.number().int().min(1).optional(),
    backoff: duration.optional(),
    maxBackoff: duration.optional(),
  })
  .strict()
  .transform((r) => ({ attempts: r.attempts, backoffMs: r.backoff, maxBackoffMs: r.maxBackoff }))

const stepSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .regex(/^[^:]+$/, 'no ":" (it separates the parts of an idempotency key)'),
    kind: z.enum(['compensatable', 'pivot', 'retriable']).default('compensatable'),
    action: fn,
    compensate: fn.optional(),
    timeout: duration.optional(),
    retry: retry.optional(),
    compensationRetry: retry.optional(),
  })
  .strict()

const KIND_ORDER: Record<StepKind, number> = { compensatable: 0, pivot: 1, retriable: 2 }

/**
 * Defines a saga: its name (unique per engine, stored in the log) and its steps, run in order.
 * Validates the definition: at least one step, unique step names, kinds in the order
 * compensatable*, pivot?, retriable*, and a `compensate` on every compensatable step.
 *
 * @example
 * const order = defineSaga<Order>('order', [
 *   { name: 'reserve-stock', action: reserve, compensate: restore },
 *   { name: 'use-points', action: usePoints, compensate: refund },
 *   { name: 'confirm', kind: 'pivot', action: confirm },
 * ])
 */
export function defineSaga<I = unknown>(name: string, steps: SagaStep<I>[]): SagaDefinition<I> {
  if (typeof name !== 'string' || name.length === 0)
    throw new SagaDefinitionError(String(name), 'needs a name')
  if (!Array.isArray(steps) || steps.length === 0)
    throw new SagaDefinitionError(name, 'needs at least one step')
  const resolved = steps.map((step, index) => {
    const parsed = stepSchema.safeParse(step)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!
      throw new SagaDefinitionError(
        name,
        `step ${index}: ${issue.path.join('.') || '(step)'}: ${issue.message}`,
        {
          step: index,
        },
      )
    }
    const { timeout, ...rest } = parsed.data
    return Object.freeze({ ...rest, timeoutMs: timeout } as ResolvedStep<I>)
  })
  const names = new Set<string>()
  let last = 0
  for (const step of resolved) {
    if (names.has(step.name)) throw new SagaDefinitionError(name, `two steps named ${step.name}`)
    names.add(step.name)
    const order = KIND_ORDER[step.kind]
    if (order < last || (order === 1 && last === 1)) {
      throw new SagaDefinitionError(
        name,
        `step ${step.name} (${step.kind}) is out of order: compensatable steps, then at most one pivot, then retriable steps`,
        { step: step.name },
      )
    }
    last = order
    if (step.kind === 'compensatable' && !step.compensate) {
      throw new SagaDefinitionError(name, `compensatable step ${step.name} needs a compensate()`, {
        step: step.name,
      })
    }
  }
  return Object.freeze({ name, steps: Object.freeze(resolved) })
}
