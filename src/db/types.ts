/**
 * A statement in node-postgres' own object form. `name` prepares it server-side once per connection (later runs
 * skip parsing and planning: for concord's claim query on a short queue a 0.84 ms round trip becomes 0.22 ms); one
 * name stands for one text. A hint: adapters without prepared statements, and `createPgNode({ prepare: false })`,
 * run the text unnamed.
 */
export interface SqlStatement {
  name?: string
  text: string
  values?: unknown[]
}

/** What a statement returns: its rows, and the rows it returned or changed (null for some utility commands). */
export interface SqlResult<R> {
  rows: R[]
  rowCount: number | null
}

/**
 * Anything that runs one SQL statement with positional parameters (`$1`, `$2`, ...), in node-postgres' two
 * forms: `query(text, values)` and `query({ name, text, values })`. A node-postgres `Pool`, `Client` and
 * `PoolClient` have this method as they are; concord's `Tx` and `Session` too. Never a third argument
 * (node-postgres takes one for a callback).
 */
export interface Queryable {
  /** Runs one statement (text, or `{ name, text, values }` to prepare it once per connection) with `$1...` parameters. */
  query<R = Record<string, unknown>>(
    statement: string | SqlStatement,
    values?: unknown[],
  ): Promise<SqlResult<R>>
}

/**
 * One connection inside a transaction the caller opened: a node-postgres `Client`/`PoolClient` after `BEGIN`, a
 * concord `Tx`, or an ORM's transaction through its adapter (concord/kysely, concord/drizzle, concord/knex,
 * concord/prisma). A `Pool` is refused: it runs each statement on whichever connection is free, outside the
 * caller's transaction. The type refuses it (a pool has `totalCount`); at run time `NotATransactionError` does,
 * before anything is written, for a pool and for a node-postgres client that is not inside a transaction.
 */
export interface Connection extends Queryable {
  /** Absent on one connection; a node-postgres `Pool` has it, so a Pool does not type-check here. */
  readonly totalCount?: never
}

/** A transaction on a shard's primary. */
export interface Tx extends Connection {
  /** The shard index the transaction runs on. */
  readonly shard: number
  /**
   * Registers `fn` to run after COMMIT succeeded; never after a rollback, and not for an attempt that was
   * retried. Errors it throws are logged and swallowed: the commit has happened and cannot be undone.
   * It receives the commit LSN, so a cache invalidation made there can carry it (C4).
   */
  afterCommit(fn: (commit: { lsn: string }) => void | Promise<void>): void
}

/**
 * Statements by shard index, each on its own (autocommit) on the shard's primary: what a relay's claim, an
 * inbox's listings and the saga log run. concord/db's `Shards` is one; so is `sagaSqlFromClients([...])`.
 */
export interface ShardStatements {
  readonly count: number
  /** Runs one statement on shard `shard`'s primary in its own transaction. */
  execute<R = Record<string, unknown>>(
    shard: number,
    statement: string | SqlStatement,
    values?: unknown[],
  ): Promise<SqlResult<R>>
}

/** A transaction's isolation level, as PostgreSQL names it. */
export type Isolation = 'read committed' | 'repeatable read' | 'serializable'

/**
 * One dedicated connection (a session) on a node: statements run in order on the same backend, so
 * session state (BEGIN, advisory locks, SET) holds between them.
 */
export interface Session extends Queryable {
  /** Runs a script of one or more statements without parameters (migrations). */
  exec(script: string): Promise<void>
  /**
   * Scratch space that lives exactly as long as the underlying connection (absent when the adapter has no
   * pool). The router keeps the replay position it last read here: on one connection it cannot go back.
   */
  readonly memo?: Map<string, unknown>
}

/**
 * One PostgreSQL server (a primary or a replica) behind a small port, so the routing code does not know
 * which client library talks to it. `createPgNode` and `createPgliteNode` are the two adapters.
 */
export interface NodeAdapter {
  readonly kind: 'pg' | 'pglite' | (string & {})
  /** A readable name for health reports and errors (host:port/database; never a password). */
  readonly name: string
  /** One statement on any connection of the node. */
  query: Queryable['query']
  /** Runs `fn` on one dedicated connection, released (or discarded when broken) afterwards. */
  session<T>(fn: (session: Session) => Promise<T>): Promise<T>
  /**
   * Runs `fn` in a transaction at `isolation`, commits, and returns the WAL position after the commit
   * (`pg_current_wal_lsn()` on the same connection). Rolls back and rethrows when `fn` or COMMIT fails.
   */
  transaction<T>(fn: (q: Queryable) => Promise<T>, isolation: Isolation): Promise<{ result: T; lsn: string }>
  /** LISTEN on `channel`; `onNotify` gets each payload. Resolves to an unsubscribe function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>
  /** Closes the node's connections (a pool passed in by the application is left open). */
  close(): Promise<void>
}

/** A shard: a primary and zero or more streaming replicas of it. */
export interface ShardConfig {
  primary: NodeAdapter
  replicas?: NodeAdapter[]
}

/** The state of one replica as the background health check last saw it. */
export interface ReplicaHealth {
  shard: number
  /** Index of the replica in its shard's `replicas` list. */
  replica: number
  name: string
  /** Reachable, replaying, and within `maxLag`: plain reads may use it. */
  healthy: boolean
  /** The replica's replay position (`pg_last_wal_replay_lsn()`), null before the first check. */
  replayLsn: string | null
  /** Bytes of WAL the primary has and the replica has not replayed. Null until it answered once. */
  lagBytes: number | null
  /** How old the replica's view is, in seconds (0 when caught up). Null until it answered once. */
  lagSeconds: number | null
  lastError?: string
  /** When the last check finished (ms since the epoch), 0 before the first. */
  checkedAt: number
}

/** Which node served a read, and why it was chosen. */
export interface ReadRoute {
  shard: number
  node: 'primary' | 'replica'
  /** Index of the replica that served the read, when `node` is 'replica'. */
  replica?: number
  name: string
  reason:
    | 'primary-requested'
    | 'no-replica'
    | 'replica'
    | 'replica-caught-up'
    | 'replica-behind'
    | 'replica-failed'
    /** The token is past the current primary's position: after a failover, a commit that was lost. */
    | 'token-beyond-primary'
}

/** A versioned SQL script of one module, applied once per shard. */
export interface Migration {
  /** Owner of the migration ('outbox', 'inbox', 'saga', 'shop', ...); versions are per module. */
  module: string
  /** A positive integer; a module's migrations apply in ascending version. */
  version: number
  name: string
  /** One or more statements. Runs inside a transaction, so no CREATE INDEX CONCURRENTLY. */
  sql: string
}
