import { SagaNotFoundError } from './errors.js'
import {
  type SagaAttention,
  type SagaErrorInfo,
  type SagaLog,
  type SagaRecord,
  type SagaStatus,
  SETTLED,
} from './types.js'

/** How a saga ended, as `run()` and `wait()` report it. NEEDS_ATTENTION is reported, not thrown. */
export interface SagaOutcome {
  id: string
  name: string
  idempotencyKey: string
  status: SagaStatus
  /** Outputs of the steps that are done, by step name. */
  outputs: Record<string, unknown>
  /** The failure that made the saga compensate (COMPENSATED, or NEEDS_ATTENTION while compensating). */
  error: SagaErrorInfo | null
  attention: SagaAttention | null
  /** False when `run()` found an earlier saga with the same idempotency key. */
  created: boolean
}

export function outcomeOf(saga: SagaRecord, created: boolean): SagaOutcome {
  const outputs: Record<string, unknown> = {}
  for (const step of saga.steps) if (step.status === 'DONE') outputs[step.name] = step.output
  return {
    id: saga.id,
    name: saga.name,
    idempotencyKey: saga.idempotencyKey,
    status: saga.status,
    outputs,
    error: saga.error,
    attention: saga.attention,
    created,
  }
}

/** Polls the log until the saga is settled (another process drives it). */
export async function waitSettled(
  log: SagaLog,
  id: string,
  pollMs: number,
  timeoutMs = Number.POSITIVE_INFINITY,
): Promise<SagaRecord> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const saga = await log.get(id)
    if (!saga) throw new SagaNotFoundError(id)
    if (SETTLED.has(saga.status) || Date.now() >= deadline) return saga
    await new Promise((resolve) => setTimeout(resolve, pollMs))
  }
}
