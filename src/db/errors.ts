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
  return /Connection terminated|connection timeout|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
    error.message,
  )
}

/** A write refused because the node is in recovery (25006 read_only_sql_transaction): it is not the primary now. */
export function isNotPrimaryError(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '25006'
}

/** The SQLSTATE of a retryable transaction conflict (40001 serialisation failure, 40P01 deadlock), or null. */
export function retryableConflict(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code
  return code === '40001' || code === '40P01' ? code : null
}

/**
 * A write that belongs in the caller's transaction was given something else: a node-postgres `Pool` (each
 * statement on whichever connection is free, outside any transaction), a client with no transaction open, or
 * no query function at all. Nothing was written.
 */
export class NotATransactionError extends ConcordError {
  constructor(where: string, got: 'pool' | 'idle client' | 'not queryable') {
    const hint =
      got === 'pool'
        ? 'a pg.Pool runs each statement on any free connection, outside your transaction: pass the PoolClient from pool.connect() after BEGIN'
        : got === 'idle client'
          ? 'the client has no transaction open: run BEGIN on it first (or use withCommitLsn)'
          : 'pass a pg Client/PoolClient inside BEGIN ... COMMIT, a concord Tx, or an ORM transaction through concord/kysely, concord/drizzle, concord/knex or concord/prisma'
    super(
      'E_NOT_A_TRANSACTION',
      `${where} needs one connection inside a transaction, got a ${got}: ${hint}`,
      {
        context: { where, got },
      },
    )
  }
}

/** The migration sets concord's tables come from, by table-name prefix. */
const MIGRATION_SETS: readonly { prefix: string; set: string; from: string }[] = [
  { prefix: 'concord_outbox', set: 'outboxMigrations', from: 'concord/outbox' },
  { prefix: 'concord_inbox', set: 'outboxMigrations', from: 'concord/outbox' },
  { prefix: 'concord_saga', set: 'sagaMigrations', from: 'concord/saga' },
  { prefix: 'concord_choreography', set: 'sagaMigrations', from: 'concord/saga' },
]

/**
 * One of concord's tables does not exist in the database a statement ran on: its migration set was not
 * applied there. `context.migrations` names the set, `context.table` the missing table; `cause` is the
 * database's error (42P01).
 */
export class MigrationsMissingError extends ConcordError {
  constructor(table: string, set: string, from: string, cause: unknown) {
    super(
      'E_MIGRATIONS_MISSING',
      `table ${table} does not exist: apply ${set} (from '${from}') to this database, with ` +
        `\`await shards.migrate(${set})\`, or with your own migration tool from the SQL that ` +
        `\`migrationScript(${set})\` (concord/db) prints`,
      { context: { table, migrations: set, from }, cause },
    )
  }
}

/**
 * `error` as a `MigrationsMissingError` when it is PostgreSQL's "relation concord_... does not exist"
 * (42P01); any other error as it is.
 */
export function explainMissingTable(error: unknown): unknown {
  const e = error as { code?: unknown; message?: unknown } | null
  if (e?.code !== '42P01' || typeof e.message !== 'string') return error
  const table = /relation "(?:[A-Za-z_][\w]*\.)?(concord_\w+)" does not exist/.exec(e.message)?.[1]
  const known = table && MIGRATION_SETS.find((m) => table.startsWith(m.prefix))
  return known ? new MigrationsMissingError(table, known.set, known.from, error) : error
}
