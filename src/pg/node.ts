import pg from 'pg'
import { z } from 'zod'
import type { Isolation, NodeAdapter, Queryable, QueryOptions, Session } from '../db/kit.js'
import { COMMIT_LSN_SQL, DbClosedError, isConnectionError, TransactionRolledBackError } from '../db/kit.js'
import { type Duration, duration, parseOptions } from '../options.js'
import { PgListener } from './listener.js'

export const schema = z.object({
  /** `postgres://user:pass@host:port/db`; or the separate fields below. */
  connectionString: z.string().min(1).optional(),
  host: z.string().optional(),
  port: z.number().int().positive().optional(),
  user: z.string().optional(),
  password: z.string().optional(),
  database: z.string().optional(),
  /** Pool size. @default 10 */
  max: z.number().int().positive().default(10),
  ssl: z.union([z.boolean(), z.record(z.string(), z.unknown())]).optional(),
  /** Bound on opening a connection, so a dead replica is skipped quickly. @default '5s' */
  connectTimeout: duration.prefault('5s'),
  /** An idle pooled connection is closed after this. @default '30s' */
  idleTimeout: duration.prefault('30s'),
  /** Server-side `statement_timeout` for every connection; 0 turns it off. @default 0 */
  statementTimeout: duration.prefault(0),
  /** Name in health reports and errors. @default host:port/database */
  name: z.string().min(1).optional(),
  /** `application_name` shown in pg_stat_activity. @default 'concord' */
  applicationName: z.string().default('concord'),
  /**
   * Honour `QueryOptions.prepare` (named server-side prepared statements). Turn off behind a pooler that does not
   * keep them per client (PgBouncer in transaction mode before 1.21). @default true
   */
  prepare: z.boolean().default(true),
})

export interface PgNodeOptions {
  /** `postgres://user:pass@host:port/db`; or the separate fields below. */
  connectionString?: string
  host?: string
  port?: number
  user?: string
  password?: string
  database?: string
  /** Pool size. @default 10 */
  max?: number
  ssl?: boolean | Record<string, unknown>
  /** Bound on opening a connection, so a dead replica is skipped quickly. @default '5s' */
  connectTimeout?: Duration
  /** An idle pooled connection is closed after this. @default '30s' */
  idleTimeout?: Duration
  /** Server-side `statement_timeout` for every connection; 0 turns it off. @default 0 */
  statementTimeout?: Duration
  /** Name in health reports and errors. @default host:port/database */
  name?: string
  /** `application_name` shown in pg_stat_activity. @default 'concord' */
  applicationName?: string
  /**
   * Honour `QueryOptions.prepare` (named server-side prepared statements). Turn off behind a pooler that does not
   * keep them per client (PgBouncer in transaction mode before 1.21). @default true
   */
  prepare?: boolean
}

/** A PostgreSQL server reached through node-postgres: one pool per node, plus one LISTEN connection. */
export function createPgNode(options: PgNodeOptions): NodeAdapter {
  const o = parseOptions('createPgNode', schema, options)
  const config: pg.PoolConfig = {
    connectionString: o.connectionString,
    host: o.host,
    port: o.port,
    user: o.user,
    password: o.password,
    database: o.database,
    ssl: o.ssl as pg.PoolConfig['ssl'],
    max: o.max,
    connectionTimeoutMillis: Math.max(1, o.connectTimeout),
    idleTimeoutMillis: o.idleTimeout,
    application_name: o.applicationName,
    ...(o.statementTimeout > 0 ? { statement_timeout: o.statementTimeout } : {}),
  }
  const name = o.name ?? describe(o)
  const pool = new pg.Pool(config)
  // An idle client that loses its server emits 'error' on the pool; unhandled, it would crash the process.
  // The next checkout gets a fresh connection, and the caller sees that one's error if the server is gone.
  pool.on('error', () => {})
  // The same for a checked-out client that has no query running when its server dies (between the
  // statements of a session): the failure reaches the caller through its next query instead.
  pool.on('connect', (client) => {
    client.on('error', () => {})
  })
  const listener = new PgListener({ ...config })
  let closed = false

  async function connect(): Promise<pg.PoolClient> {
    if (closed) throw new DbClosedError(`node ${name}`)
    try {
      return await pool.connect()
    } catch (error) {
      if (closed || /after calling end on the pool/.test(String(error)))
        throw new DbClosedError(`node ${name}`)
      throw error
    }
  }

  async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await connect()
    let failure: Error | undefined
    try {
      return await fn(client)
    } catch (error) {
      // A session that failed may hold state (an open transaction, a lock): never return it to the pool.
      failure = error instanceof Error ? error : new Error(String(error))
      throw error
    } finally {
      client.release(failure)
    }
  }

  return {
    kind: 'pg',
    name,
    async query(sql, params, options) {
      const client = await connect()
      let failure: Error | undefined
      try {
        const result = await client.query(statement(sql, params, o.prepare ? options : undefined))
        return { rows: result.rows, rowCount: result.rowCount ?? 0 }
      } catch (error) {
        if (isConnectionError(error)) failure = error as Error
        throw error
      } finally {
        client.release(failure)
      }
    },
    session: (fn) => withClient((client) => fn(sessionOf(client, o.prepare))),
    async transaction(fn, isolation) {
      const client = await connect()
      let broken: Error | undefined
      try {
        return await transact(client, name, fn, isolation, o.prepare)
      } catch (error) {
        // transact rolled back, so the connection is clean unless the connection itself failed.
        if (isConnectionError(error)) broken = error as Error
        throw error
      } finally {
        client.release(broken)
      }
    },
    async listen(channel, onNotify) {
      if (closed) throw new DbClosedError(`node ${name}`)
      return listener.listen(channel, onNotify)
    },
    async close() {
      if (closed) return
      closed = true
      await Promise.all([listener.close(), pool.end()])
    },
  }
}

async function transact<T>(
  client: pg.PoolClient,
  name: string,
  fn: (q: Queryable) => Promise<T>,
  isolation: Isolation,
  prepare: boolean,
): Promise<{ result: T; lsn: string }> {
  await client.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`)
  const session = sessionOf(client, prepare)
  let open = true
  const guarded: Queryable = {
    query: (sql, params, options) => {
      if (!open) return Promise.reject(new DbClosedError('transaction'))
      return session.query(sql, params, options)
    },
  }
  let result: T
  let lsn: string
  try {
    result = await fn(guarded)
    // One round trip: COMMIT, then the commit LSN on the same connection (a failing COMMIT skips it).
    const [commit, position] = (await client.query(
      `COMMIT; ${COMMIT_LSN_SQL}`,
    )) as unknown as pg.QueryResult[]
    // COMMIT of a transaction in which a statement failed answers ROLLBACK instead of an error.
    if (commit!.command === 'ROLLBACK') throw new TransactionRolledBackError(name)
    lsn = (position!.rows[0] as { lsn: string }).lsn
  } catch (error) {
    try {
      await client.query('ROLLBACK')
    } catch (rollbackError) {
      throw isConnectionError(error) ? error : rollbackError
    }
    throw error
  } finally {
    open = false
  }
  return { result, lsn }
}

// Keyed by the pooled client object, which is one connection for its whole life: a broken connection's
// client is dropped by the pool, and its memo with it.
const memos = new WeakMap<pg.PoolClient, Map<string, unknown>>()

/** node-postgres' form of a statement: named (prepared once per connection) when asked and allowed. */
function statement(
  sql: string,
  params: unknown[] | undefined,
  options: QueryOptions | undefined,
): pg.QueryConfig {
  return options?.prepare
    ? { name: options.prepare, text: sql, values: params }
    : { text: sql, values: params }
}

function sessionOf(client: pg.PoolClient, prepare: boolean): Session {
  let memo = memos.get(client)
  if (!memo) {
    memo = new Map()
    memos.set(client, memo)
  }
  return {
    memo,
    async query(sql, params, options) {
      const result = await client.query(statement(sql, params, prepare ? options : undefined))
      return { rows: result.rows, rowCount: result.rowCount ?? 0 }
    },
    async exec(script) {
      await client.query(script)
    },
  }
}

function describe(o: { connectionString?: string; host?: string; port?: number; database?: string }): string {
  if (o.connectionString) {
    try {
      const url = new URL(o.connectionString)
      const host = url.hostname || url.searchParams.get('host') || 'localhost'
      return `${host}:${url.port || 5432}${url.pathname || '/'}`
    } catch {
      return 'postgres'
    }
  }
  return `${o.host ?? 'localhost'}:${o.port ?? 5432}/${o.database ?? ''}`
}
