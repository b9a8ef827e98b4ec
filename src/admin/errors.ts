import { ConcordError } from '../errors.js'

/** Errors of concord/admin. */

/**
 * A status source threw, rejected or did not answer within `sourceTimeout`. The status still answers: the
 * section is `null` and `errors[section]` carries this message, so one broken source hides nothing else.
 */
export class AdminSourceError extends ConcordError {
  constructor(section: string, cause: unknown) {
    super('E_ADMIN_SOURCE_FAILED', `status source ${section} failed: ${reason(cause)}`, {
      context: { section },
      cause,
    })
  }
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
