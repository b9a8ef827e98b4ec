import pg from 'pg'
import { z } from 'zod'
import type { Isolation, NodeAdapter, Queryable, Session, SqlStatement } from '../db/kit.js'
import { COMMIT_LSN_SQL, DbClosedError, isConnectionError, TransactionRolledBackError } from '../db/kit.js'
import { InvalidOptionsError } from '../errors.js'
import { type Duration, duration, parseOptions } from '../options.js'
import { PgListener } from './listener.js'

const isPool = (v: unknown): v is pg.Pool =>
  typeof (v as pg.Pool)?.connect === 'function' && typeof (v as pg.Pool)?.totalCount === 'number'

export const schema = z.object({
  /**
   * The application's own pool: concord runs on it (and holds one of its connections for LISTEN) instead of
   * opening a second pool. Its owner ends it; the connection fields and `max`, the timeouts and
   * `applicationName` below are the pool's business then. @default a pool of concord's own
   */
  pool: z.custom<pg.Pool>(isPool, 'a pg.Pool').optional(),
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
  /**
   * Client-side bound on each query's answer (node-postgres `query_timeout`), which a server-side timeout cannot
   * give when the network drops the packets (a partition): the query fails as a connection error
   * (`ShardUnavailableError` on a primary; a read moves on) and its connection is discarded. 0 waits for
   * ever. @default 0
   */
  queryTimeout: duration.prefault(0),
  /** Name in health reports and errors. @default host:port/database */
  name: z.string().min(1).optional(),
  /** `application_name` shown in pg_stat_activity. @default 'concord' */
  applicationName: z.string().default('concord'),
  /**
   * Honour statement names (`{ name, text, values }`: server-side prepared statements). Turn off behind a pooler that does not
   * keep them per client (PgBouncer in transaction mode before 1.21). @default true
   */
  prepare: z.boolean().default(true),
})

/** Options of `createPgNode`: a pool of its own (connection fields) or the application's (`pool`), and timeouts. */
export interface PgNodeOptions {
  /**
   * The application's own pool: concord runs on it (and holds one of its connections for LISTEN) instead of
   * opening a second pool. Its owner ends it; the connection fields and `max`, the timeouts and
   * `applicationName` below are the pool's business then. @default a pool of concord's own
   */
  pool?: pg.Pool
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
  /**
   * Client-side bound on each query's answer (node-postgres `query_timeout`), which a server-side timeout cannot
   * give when the network drops the packets (a partition): the query fails as a connection error
   * (`ShardUnavailableError` on a primary; a read moves on) and its connection is discarded. 0 waits for
   * ever. @default 0
   */
  queryTimeout?: Duration
  /** Name in health reports and errors. @default host:port/database */
  name?: string
  /** `application_name` shown in pg_stat_activity. @default 'concord' */
  applicationName?: string
  /**
   * Honour statement names (`{ name, text, values }`: server-side prepared statements). Turn off behind a pooler that does not
   * keep them per client (PgBouncer in transaction mode before 1.21). @default true
   */
  prepare?: boolean
}

const CONNECTION_FIELDS = ['connectionString', 'host', 'port', 'user', 'password', 'database', 'ssl'] as const

/**
 * A PostgreSQL server reached through node-postgres: one pool per node (concord's own, or the application's
 * `pool`), plus one LISTEN connection.
 */
export function createPgNode(options: PgNodeOptions): NodeAdapter {
  const o = parseOptions('createPgNode', schema, options)
  if (o.pool) {
    const both = CONNECTION_FIELDS.filter((f) => o[f] !== undefined)
    if (both.length > 0) {
      throw new InvalidOptionsError('createPgNode', [
        { option: both[0]!, message: 'give a pool or connection settings, not both', value: o[both[0]!] },
      ])
    }
  }
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
    ...(o.queryTimeout > 0 ? { query_timeout: o.queryTimeout } : {}),
  }
  const own = o.pool === undefined
  const pool = o.pool ?? new pg.Pool(config)
  const name = o.name ?? describe(own ? o : (pool.options as DescribeFields))
  // A checked-out client that has no query running when its server dies (between the statements of a
  // session) emits 'error'; unhandled, it would crash the process. The failure reaches the caller through its
  // next query instead. An application's own pool keeps the 'error' handler its owner gave it.
  const quiet = new WeakSet<pg.PoolClient>()
  if (own) pool.on('error', () => {})
  const listener = new PgListener(own ? { ...config } : { pool })
  let closed = false

  async function connect(): Promise<pg.PoolClient> {
    if (closed) throw new DbClosedError(`node ${name}`)
    try {
      const client = await pool.connect()
      if (!quiet.has(client)) {
        quiet.add(client)
        client.on('error', () => {})
      }
      return client
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
    async query(text, values) {
      const client = await connect()
      let failure: Error | undefined
      try {
        const result = await client.query(statement(text, values, o.prepare))
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
      await Promise.all([listener.close(), own ? pool.end() : undefined])
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
    query: (text, values) => {
      if (!open) return Promise.reject(new DbClosedError('transaction'))
      return session.query(text, values)
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
  s: string | SqlStatement,
  values: unknown[] | undefined,
  prepare: boolean,
): pg.QueryConfig {
  if (typeof s === 'string') return { text: s, values }
  const all = s.values ?? values
  return prepare && s.name ? { name: s.name, text: s.text, values: all } : { text: s.text, values: all }
}

function sessionOf(client: pg.PoolClient, prepare: boolean): Session {
  let memo = memos.get(client)
  if (!memo) {
    memo = new Map()
    memos.set(client, memo)
  }
  return {
    memo,
    async query(text, values) {
      const result = await client.query(statement(text, values, prepare))
      return { rows: result.rows, rowCount: result.rowCount ?? 0 }
    },
    async exec(script) {
      await client.query(script)
    },
  }
}

type DescribeFields = { connectionString?: string; host?: string; port?: number; database?: string }

function describe(o: DescribeFields): string {
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
