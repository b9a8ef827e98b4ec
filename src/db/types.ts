/** Anything that runs one SQL statement with positional parameters (`$1`, `$2`, ...). */
export interface Queryable {
  query<R = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<{ rows: R[]; rowCount: number }>
}

export interface QueryOptions {
  /**
   * Prepare the statement under this name, once per connection: later runs skip parsing and analysis (for
   * concord's claim query on a short queue, a 0.84 ms round trip becomes 0.22 ms). One name, one text.
   * A hint: adapters without prepared statements, and `createPgNode({ prepare: false })`, run the text as usual.
   */
  prepare?: string
}

/** A transaction on a shard's primary. */
export interface Tx extends Queryable {
  /** The shard index the transaction runs on. */
  readonly shard: number
  /**
   * Registers `fn` to run after COMMIT succeeded; never after a rollback, and not for an attempt that was
   * retried. Errors it throws are logged and swallowed: the commit has happened and cannot be undone.
   * It receives the commit LSN, so a cache invalidation made there can carry it (C4).
   */
  afterCommit(fn: (commit: { lsn: string }) => void | Promise<void>): void
}

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
