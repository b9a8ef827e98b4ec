import { type BackoffPolicy, backoffDelay } from '../backoff.js'
import { SerializationError } from '../errors.js'
import { traced } from '../tracing.js'
import { attempt, errorInfo, pause } from './attempt.js'
import type { ResolvedStep, SagaDefinition, StepContext } from './define.js'
import { SagaInterruptedError, SagaStepRejectedError } from './errors.js'
import {
  actionDone,
  actionFailed,
  actionRetry,
  compensationDone,
  compensationFailed,
  compensationRetry,
} from './transitions.js'
import { type SagaLogEntry, type SagaRecord, SETTLED } from './types.js'

/** Attempts, backoff and timeout in force for one effect. */
export interface EffectPolicy {
  attempts: number
  backoffMs: number
  maxBackoffMs: number
  timeoutMs: number
}

/** A step's retry delays: exponential from `backoffMs`, capped, randomised down to half (full jitter above half). */
function stepBackoff(policy: EffectPolicy): BackoffPolicy {
  return { initial: policy.backoffMs, max: policy.maxBackoffMs, factor: 2, jitter: 0.5 }
}

/** What the driver needs from the engine that holds the saga's lease. */
export interface DriverIo {
  /** Aborted when the lease is lost or the engine closes: the driver stops at the next boundary. */
  signal: AbortSignal
  policy(step: ResolvedStep<unknown>, phase: 'action' | 'compensate'): EffectPolicy
  /** Applies `change` to the saga and writes it to the log; throws SagaInterruptedError if it cannot. */
  commit(saga: SagaRecord, change: (saga: SagaRecord) => SagaLogEntry[]): Promise<void>
  onAttention(saga: SagaRecord): void
}

/**
 * Drives a saga whose lease this process holds until it is settled (COMPLETED, COMPENSATED or
 * NEEDS_ATTENTION). Each effect runs only after the log says it may; its outcome is written before
 * the next one starts. Throws SagaInterruptedError if it has to stop early: the saga stays in the log.
 */
export async function drive(
  def: SagaDefinition<unknown>,
  saga: SagaRecord,
  io: DriverIo,
): Promise<SagaRecord> {
  while (!SETTLED.has(saga.status)) {
    if (io.signal.aborted) throw interrupted(saga, io.signal)
    if (saga.status === 'RUNNING') await forward(def, saga, io)
    else await backward(def, saga, io)
  }
  if (saga.status === 'NEEDS_ATTENTION') io.onAttention(saga)
  return saga
}

async function forward(def: SagaDefinition<unknown>, saga: SagaRecord, io: DriverIo): Promise<void> {
  const index = saga.cursor
  const step = def.steps[index]!
  const policy = io.policy(step, 'action')
  try {
    const ctx = context(saga, step, 'action', saga.steps[index]!.attempts, io)
    const output = await effect(saga, step, 'action', policy, ctx, io, () => step.action(ctx))
    const stored = toJson(output, saga, step.name)
    await io.commit(saga, (s) => actionDone(s, index, stored))
  } catch (error) {
    if (error instanceof SagaInterruptedError) throw error
    const info = errorInfo(step.name, error)
    const attempts = saga.steps[index]!.attempts
    if (!(error instanceof SagaStepRejectedError) && attempts < policy.attempts) {
      await pause(backoffDelay(stepBackoff(policy), attempts), io.signal)
      if (io.signal.aborted) throw interrupted(saga, io.signal)
      await io.commit(saga, (s) => actionRetry(s, index, info))
    } else {
      await io.commit(saga, (s) => actionFailed(def, s, index, info))
    }
  }
}

async function backward(def: SagaDefinition<unknown>, saga: SagaRecord, io: DriverIo): Promise<void> {
  const index = saga.cursor
  const step = def.steps[index]!
  const policy = io.policy(step, 'compensate')
  try {
    const ctx = context(saga, step, 'compensate', saga.steps[index]!.compensations, io)
    await effect(saga, step, 'compensate', policy, ctx, io, () => step.compensate?.(ctx))
    await io.commit(saga, (s) => compensationDone(def, s, index))
  } catch (error) {
    if (error instanceof SagaInterruptedError) throw error
    const info = errorInfo(step.name, error)
    const compensations = saga.steps[index]!.compensations
    if (compensations < policy.attempts) {
      await pause(backoffDelay(stepBackoff(policy), compensations), io.signal)
      if (io.signal.aborted) throw interrupted(saga, io.signal)
      await io.commit(saga, (s) => compensationRetry(s, index, info))
    } else {
      await io.commit(saga, (s) => compensationFailed(s, index, info))
    }
  }
}

/** One attempt; an abort of the engine's signal (lease lost, closed) interrupts instead of failing. */
async function effect(
  saga: SagaRecord,
  step: ResolvedStep<unknown>,
  phase: 'action' | 'compensate',
  policy: EffectPolicy,
  ctx: { signal: AbortSignal },
  io: DriverIo,
  run: () => unknown,
): Promise<unknown> {
  const init = {
    name: `${phase === 'action' ? 'step' : 'compensate'} ${saga.name}.${step.name}`,
    kind: 'internal' as const,
    attributes: {
      'concord.saga.name': saga.name,
      'concord.saga.id': saga.id,
      'concord.saga.step': step.name,
      'concord.saga.phase': phase,
    },
  }
  try {
    return await traced(phase === 'action' ? 'sagaStep' : 'sagaCompensate', init, () =>
      attempt(`saga ${saga.name} ${phase} ${step.name}`, policy.timeoutMs, io.signal, (signal) => {
        ctx.signal = signal
        return run()
      }),
    )
  } catch (error) {
    if (io.signal.aborted) throw interrupted(saga, io.signal, error)
    throw error
  }
}

function context(
  saga: SagaRecord,
  step: ResolvedStep<unknown>,
  phase: 'action' | 'compensate',
  attemptNumber: number,
  io: DriverIo,
): StepContext<unknown> {
  const actionKey = `${saga.id}:${step.name}:action`
  const compensationKey = `${saga.id}:${step.name}:compensate`
  const outputs: Record<string, unknown> = {}
  for (const s of saga.steps) if (s.status === 'DONE' || s.output !== undefined) outputs[s.name] = s.output
  return {
    sagaId: saga.id,
    saga: saga.name,
    step: step.name,
    input: saga.input,
    idempotencyKey: phase === 'action' ? actionKey : compensationKey,
    actionKey,
    compensationKey,
    attempt: attemptNumber,
    outputs,
    signal: io.signal,
  }
}

function toJson(value: unknown, saga: SagaRecord, step: string): unknown {
  if (value === undefined) return null
  try {
    return JSON.parse(JSON.stringify(value))
  } catch (cause) {
    throw new SerializationError(`saga ${saga.name} step ${step} returned a value that is not JSON`, {
      context: { saga: saga.id, step },
      cause,
    })
  }
}

function interrupted(saga: SagaRecord, signal: AbortSignal, cause?: unknown): SagaInterruptedError {
  const reason = signal.reason
  if (reason instanceof SagaInterruptedError) return reason
  return new SagaInterruptedError(saga.id, reason instanceof Error ? reason.message : 'stopped', cause)
}
