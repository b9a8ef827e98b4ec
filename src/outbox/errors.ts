import { MalformedEventError } from '../broker/kit.js'
import { ConcordError } from '../errors.js'

export { MalformedEventError }

/** `redrive` or `discard` named an event that is not dead-lettered (or does not exist) on any shard. */
export class DeadLetterNotFoundError extends ConcordError {
  constructor(id: string, where: 'outbox' | 'inbox') {
    super('E_DEAD_LETTER_NOT_FOUND', `no dead-lettered ${where} event with id ${id}`, {
      context: { id, where },
    })
  }
}

/**
 * A consumer handler declared an event impossible to process, whatever the number of attempts (a payload that
 * fails validation, a reference that can never resolve). `inbox.handle` dead-letters it at once instead of retrying.
 */
export class PoisonEventError extends ConcordError {
  constructor(reason: string, options: { context?: Record<string, unknown>; cause?: unknown } = {}) {
    super('E_POISON_EVENT', reason, options)
  }
}

/** A projection helper was given a table or column name that is not a plain SQL identifier. */
export class InvalidIdentifierError extends ConcordError {
  constructor(identifier: string) {
    super('E_INVALID_IDENTIFIER', `not a plain SQL identifier: ${JSON.stringify(identifier)}`, {
      context: { identifier },
    })
  }
}

/** Is this error one that no retry can cure, so the event goes to the dead letter at once? */
export function isPermanentError(error: unknown): boolean {
  return (
    error instanceof MalformedEventError ||
    error instanceof PoisonEventError ||
    (error instanceof ConcordError && error.code === 'E_INVALID_INPUT')
  )
}
