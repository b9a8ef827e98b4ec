import { ConcordError } from '../errors.js'

/**
 * The errors concord/saga reports. Each has a stable `E_*` code; step failures themselves are not
 * errors of the engine: they are recorded on the saga and visible in its outcome.
 */

/** A saga definition is malformed (no steps, duplicate names, steps out of kind order, ...). */
export class SagaDefinitionError extends ConcordError {
  constructor(saga: string, message: string, context: Record<string, unknown> = {}) {
    super('E_SAGA_DEFINITION', `saga ${JSON.stringify(saga)}: ${message}`, { context: { saga, ...context } })
  }
}

/** `run()`/`start()` named a saga that is not registered with this engine. */
export class SagaNotRegisteredError extends ConcordError {
  constructor(name: string) {
    super('E_SAGA_NOT_REGISTERED', `no saga named ${JSON.stringify(name)} is registered with this engine`, {
      context: { name },
    })
  }
}

/** No saga with this id exists in the log. */
export class SagaNotFoundError extends ConcordError {
  constructor(id: string) {
    super('E_SAGA_NOT_FOUND', `no saga with id ${id}`, { context: { id } })
  }
}

/** An admin call asked for a transition the saga's current status does not allow. */
export class SagaStateError extends ConcordError {
  constructor(id: string, status: string, wanted: string) {
    super('E_SAGA_STATE', `saga ${id} is ${status}; cannot ${wanted}`, { context: { id, status, wanted } })
  }
}

/**
 * This process stopped driving a saga before it finished: its lease was lost to another process, the
 * engine was closed, or the saga log was unreachable. The saga is not lost: it stays in the log, and
 * whoever holds (or next claims) its lease drives it to its end. `context.sagaId` names it.
 */
export class SagaInterruptedError extends ConcordError {
  constructor(sagaId: string, reason: string, cause?: unknown) {
    super('E_SAGA_INTERRUPTED', `saga ${sagaId} interrupted in this process: ${reason}`, {
      context: { sagaId, reason },
      cause,
    })
  }
}

/**
 * Thrown by a step's action to say "no" for business reasons (out of stock, not enough points): the
 * engine does not retry it and compensates at once (before the pivot). Any other error is retried first.
 */
export class SagaStepRejectedError extends ConcordError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('E_SAGA_STEP_REJECTED', message, { context })
  }
}

/**
 * A step's action found its idempotency key already cancelled by the step's compensation (the action
 * arrived late, e.g. after a timeout): it must not take effect, and its transaction is rolled back.
 */
export class SagaEffectCancelledError extends ConcordError {
  constructor(key: string) {
    super('E_SAGA_EFFECT_CANCELLED', `effect ${key} was cancelled by its compensation`, { context: { key } })
  }
}
