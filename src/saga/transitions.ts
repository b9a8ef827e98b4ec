import type { SagaDefinition } from './define.js'
import type { NewSaga, SagaAttention, SagaErrorInfo, SagaLogEntry, SagaRecord, StepRecord } from './types.js'

/**
 * The saga state machine, as pure functions on a record. Each transition that finishes one effect
 * also writes the "before" of the next (`action:done` + the next `action:start` in one write), so a
 * 3-step saga costs 4 log writes, and every effect is preceded by a durable record that it may run.
 */

type Def = SagaDefinition<never> | SagaDefinition<unknown>

/** A new saga, its first step already marked as started. */
export function newSaga(
  def: Def,
  id: string,
  idempotencyKey: string,
  input: unknown,
): [NewSaga, SagaLogEntry[]] {
  const steps: StepRecord[] = def.steps.map((s) => ({
    name: s.name,
    status: 'PENDING',
    attempts: 0,
    compensations: 0,
  }))
  steps[0] = { ...steps[0]!, status: 'RUNNING', attempts: 1 }
  const saga: NewSaga = {
    id,
    name: def.name,
    idempotencyKey,
    input,
    status: 'RUNNING',
    cursor: 0,
    steps,
    error: null,
    attention: null,
  }
  return [saga, [{ step: null, event: 'saga:start', attempt: 0 }, start(steps[0]!)]]
}

function start(step: StepRecord): SagaLogEntry {
  return { step: step.name, event: 'action:start', attempt: step.attempts }
}

export function actionDone(saga: SagaRecord, index: number, output: unknown): SagaLogEntry[] {
  const step = saga.steps[index]!
  step.status = 'DONE'
  step.output = output
  delete step.error
  const entries: SagaLogEntry[] = [{ step: step.name, event: 'action:done', attempt: step.attempts }]
  const next = saga.steps[index + 1]
  if (!next) {
    saga.status = 'COMPLETED'
    entries.push({ step: null, event: 'saga:completed', attempt: 0 })
    return entries
  }
  saga.cursor = index + 1
  next.status = 'RUNNING'
  next.attempts = 1
  entries.push(start(next))
  return entries
}

export function actionRetry(saga: SagaRecord, index: number, error: SagaErrorInfo): SagaLogEntry[] {
  const step = saga.steps[index]!
  const failed: SagaLogEntry = { step: step.name, event: 'action:failed', attempt: step.attempts, error }
  step.error = error
  step.attempts += 1
  return [failed, start(step)]
}

/** The action gave up: compensate what was done, or (after the pivot) wait for a person. */
export function actionFailed(
  def: Def,
  saga: SagaRecord,
  index: number,
  error: SagaErrorInfo,
): SagaLogEntry[] {
  const step = saga.steps[index]!
  step.status = 'FAILED'
  step.error = error
  const entries: SagaLogEntry[] = [{ step: step.name, event: 'action:failed', attempt: step.attempts, error }]
  if (def.steps[index]!.kind === 'retriable') {
    return [...entries, ...needsAttention(saga, { phase: 'forward', step: step.name, error })]
  }
  saga.error = error
  saga.status = 'COMPENSATING'
  entries.push({ step: null, event: 'saga:compensating', attempt: 0 })
  return [...entries, ...nextCompensation(def, saga, index)]
}

/**
 * Marks the next step to undo at or below `from` as compensating, or the saga COMPENSATED. A step is
 * undone if its action may have taken effect: done, or failed (a timed-out attempt may still commit).
 */
export function nextCompensation(def: Def, saga: SagaRecord, from: number): SagaLogEntry[] {
  for (let j = from; j >= 0; j--) {
    const step = saga.steps[j]!
    const undoable = step.status === 'DONE' || step.status === 'FAILED' || step.status === 'RUNNING'
    if (!undoable || !def.steps[j]!.compensate) continue
    saga.cursor = j
    step.status = 'COMPENSATING'
    step.compensations = 1
    return [{ step: step.name, event: 'compensate:start', attempt: 1 }]
  }
  saga.cursor = 0
  saga.status = 'COMPENSATED'
  return [{ step: null, event: 'saga:compensated', attempt: 0 }]
}

export function compensationDone(def: Def, saga: SagaRecord, index: number): SagaLogEntry[] {
  const step = saga.steps[index]!
  step.status = 'COMPENSATED'
  const done: SagaLogEntry = { step: step.name, event: 'compensate:done', attempt: step.compensations }
  return [done, ...nextCompensation(def, saga, index - 1)]
}

export function compensationRetry(saga: SagaRecord, index: number, error: SagaErrorInfo): SagaLogEntry[] {
  const step = saga.steps[index]!
  const failed: SagaLogEntry = {
    step: step.name,
    event: 'compensate:failed',
    attempt: step.compensations,
    error,
  }
  step.error = error
  step.compensations += 1
  return [failed, { step: step.name, event: 'compensate:start', attempt: step.compensations }]
}

export function compensationFailed(saga: SagaRecord, index: number, error: SagaErrorInfo): SagaLogEntry[] {
  const step = saga.steps[index]!
  step.error = error
  const failed: SagaLogEntry = {
    step: step.name,
    event: 'compensate:failed',
    attempt: step.compensations,
    error,
  }
  return [failed, ...needsAttention(saga, { phase: 'compensate', step: step.name, error })]
}

function needsAttention(saga: SagaRecord, attention: SagaAttention): SagaLogEntry[] {
  saga.status = 'NEEDS_ATTENTION'
  saga.attention = attention
  return [{ step: attention.step, event: 'saga:needs-attention', attempt: 0, error: attention.error }]
}

/** An admin retry: resume where the saga stopped, with a fresh budget of attempts (the history keeps the count). */
export function retryFromAttention(saga: SagaRecord): SagaLogEntry[] {
  const attention = saga.attention!
  const step = saga.steps[saga.cursor]!
  saga.attention = null
  const entries: SagaLogEntry[] = [{ step: step.name, event: 'saga:retry', attempt: 0 }]
  if (attention.phase === 'forward') {
    saga.status = 'RUNNING'
    step.status = 'RUNNING'
    step.attempts = 1
    return [...entries, start(step)]
  }
  saga.status = 'COMPENSATING'
  step.status = 'COMPENSATING'
  step.compensations = 1
  return [...entries, { step: step.name, event: 'compensate:start', attempt: step.compensations }]
}
