import { ConcordError } from '../errors.js'

/**
 * Errors of concord/checker. A run never throws for a failing comparator or copy: failures are counted in the
 * report (`errors`) and passed to `onError` as these, so one broken data set does not hide the others.
 */

/** Two comparators (or two copies of one comparator) share a name; names label reports and metrics. */
export class DuplicateNameError extends ConcordError {
  constructor(what: 'comparator' | 'copy' | 'probe path', name: string) {
    super('E_CHECKER_DUPLICATE_NAME', `two of the checker's ${what}s are named ${JSON.stringify(name)}`, {
      context: { what, name },
    })
  }
}

/** A comparator's `sample`, `source`, or a copy's `read` / `repair` threw; the run went on without it. */
export class ComparatorFailedError extends ConcordError {
  constructor(
    step: 'sample' | 'source' | 'read' | 'repair',
    where: { comparator: string; copy?: string; key?: string },
    cause: unknown,
  ) {
    const at = where.copy ? `${where.comparator}/${where.copy}` : where.comparator
    super(
      'E_CHECKER_COMPARATOR_FAILED',
      `checker ${at}: ${step}${where.key === undefined ? '' : ` of ${JSON.stringify(where.key)}`} failed: ${message(cause)}`,
      { context: { step, ...where }, cause },
    )
  }
}

/** The alert hook threw or rejected; the run's report is kept either way. */
export class AlertFailedError extends ConcordError {
  constructor(cause: unknown) {
    super('E_CHECKER_ALERT_FAILED', `checker alert hook failed: ${message(cause)}`, { cause })
  }
}

export function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
