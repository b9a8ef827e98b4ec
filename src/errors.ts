/**
 * Every failure concord reports is a `ConcordError`: a stable string `code` (`E_*`) a caller can switch on,
 * a message for people, a `context` object with the values involved (never secrets), and the `cause`.
 * Each module defines the subclasses a caller may want to handle next to its code; the ones every
 * module shares live here.
 */
export class ConcordError extends Error {
  readonly code: string
  readonly context: Readonly<Record<string, unknown>>

  constructor(
    code: string,
    message: string,
    options: { context?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.context = Object.freeze({ ...(options.context ?? {}) })
  }
}

/** An option failed validation. `context.option` names it, `context.value` shows what was given. */
export class InvalidOptionsError extends ConcordError {
  constructor(where: string, issues: { option: string; message: string; value: unknown }[]) {
    const first = issues[0]
    const detail = issues.map((i) => `${i.option}: ${i.message} (got ${show(i.value)})`).join('; ')
    super('E_INVALID_OPTIONS', `invalid options for ${where}: ${detail}`, {
      context: { where, option: first?.option, value: first?.value, issues },
    })
  }
}

/** A value could not be serialised or deserialised; nothing was cached or sent. */
export class SerializationError extends ConcordError {
  constructor(message: string, options: { context?: Record<string, unknown>; cause?: unknown } = {}) {
    super('E_SERIALIZATION', message, options)
  }
}

/** An operation on a component that was already closed. */
export class ClosedError extends ConcordError {
  constructor(what: string) {
    super('E_CLOSED', `${what} is closed`, { context: { what } })
  }
}

/** An operation took longer than its bound. */
export class TimeoutError extends ConcordError {
  constructor(what: string, ms: number, cause?: unknown) {
    super('E_TIMEOUT', `${what} timed out after ${ms} ms`, { context: { what, ms }, cause })
  }
}

/** A caller passed input the API cannot accept (a bad key, a malformed event, ...). */
export class InvalidInputError extends ConcordError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('E_INVALID_INPUT', message, { context })
  }
}

function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)
  try {
    const text = JSON.stringify(value)
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 80)}...` : text
  } catch {
    return String(value)
  }
}
