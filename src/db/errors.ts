import { ClosedError, ConcordError } from '../errors.js'

/** A shard key that maps to no shard, or a shard index out of range. */
export class ShardNotFoundError extends ConcordError {
  constructor(message: string, context: Record<string, unknown>) {
    super('E_SHARD_NOT_FOUND', message, { context })
  }
}

/** The shards (or one node's pool) were closed; nothing was run. Its code is the shared `E_CLOSED`. */
export class DbClosedError extends ClosedError {}

/**
 * A transaction kept failing with a serialisation failure (40001) or a deadlock (40P01) after every
 * allowed attempt. Nothing was committed; `cause` is the last database error.
 */
export class SerializationFailureError extends ConcordError {
  constructor(shard: number, attempts: number, sqlstate: string, cause: unknown) {
    super(
      'E_SERIALIZATION_FAILURE',
      `transaction on shard ${shard} failed with ${sqlstate} after ${attempts} attempts`,
      { context: { shard, attempts, sqlstate }, cause },
    )
  }
}

/** COMMIT rolled back, because a statement failed inside the transaction and its error was swallowed. */
export class TransactionRolledBackError extends ConcordError {
  constructor(node: string) {
    super('E_TX_ROLLED_BACK', `COMMIT on ${node} rolled back: a statement in the transaction had failed`, {
      context: { node },
    })
  }
}

/** The primary of a shard could not be reached (connection refused, reset, or timed out). */
export class ShardUnavailableError extends ConcordError {
  constructor(shard: number, node: string, cause: unknown) {
    super('E_SHARD_UNAVAILABLE', `primary ${node} of shard ${shard} is unavailable`, {
      context: { shard, node },
      cause,
    })
  }
}

/** A migration failed, or an applied migration's SQL changed since it ran. Nothing of that run stayed. */
export class MigrationError extends ConcordError {
  constructor(message: string, context: Record<string, unknown>, cause?: unknown) {
    super('E_MIGRATION', message, { context, cause })
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
])

/**
 * True for errors that say the connection or the server failed, not the statement: a read can move to
 * another node, and a primary's failure becomes `ShardUnavailableError`.
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string') {
    if (CONNECTION_CODES.has(code)) return true
    // Class 08: connection exception; 57P01-03: server shutting down or starting; 53300: too many clients.
    if (code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300') return true
  }
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    error.message,
  )
}

/** The SQLSTATE of a retryable transaction conflict (40001 serialisation failure, 40P01 deadlock), or null. */
export function retryableConflict(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code
  return code === '40001' || code === '40P01' ? code : null
}
