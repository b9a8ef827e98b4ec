import { PGlite } from '@electric-sql/pglite'
import { z } from 'zod'
import type { Migration, NodeAdapter, Queryable, Session } from '../db/kit.js'
import {
  COMMIT_LSN_SQL,
  DbClosedError,
  Mutex,
  migrateNode,
  orderMigrations,
  quoteChannel,
  TransactionRolledBackError,
  textAndValues,
} from '../db/kit.js'
import { parseOptions } from '../options.js'
import { bootPglite } from './boot.js'

const schema = z.union([
  z.object({ db: z.instanceof(PGlite), name: z.string().min(1).optional() }).strict(),
  z
    .object({
      /** A directory for the data files; in memory when absent. */
      dataDir: z.string().min(1).optional(),
      name: z.string().min(1).optional(),
      /** Applied to the template a new database starts from (see boot.ts), not at every start. */
      migrations: z.array(z.custom<Migration>()).optional(),
      /** Where templates are kept across processes; false: in this process only. */
      cacheDir: z.union([z.string().min(1), z.literal(false)]).optional(),
    })
    .strict(),
])

/** Options of `createPgliteNode`: a PGlite it opens (in memory, or in `dataDir`), or one you opened (`db`). */
export type PgliteNodeOptions =
  | { dataDir?: string; name?: string; migrations?: Migration[]; cacheDir?: string | false }
  | { db: PGlite; name?: string }

/**
 * An embedded PostgreSQL (PGlite): a shard without replicas, for the demo and tests. PGlite has one
 * connection, so every query, session and transaction here waits its turn on one lock; statements of
 * concurrent transactions never interleave. A `db` passed in stays open on `close()` (its owner closes it).
 * A new database starts from a cached template (initdb done, `migrations` applied): `Shards.migrate` with
 * the same migrations then finds nothing to do.
 */
export function createPgliteNode(options: PgliteNodeOptions = {}): NodeAdapter {
  const o = parseOptions('createPgliteNode', schema, options)
  const owned = !('db' in o)
  const dataDir = 'dataDir' in o ? o.dataDir : undefined
  const name = o.name ?? (owned ? `pglite:${dataDir ?? 'memory'}` : 'pglite')
  const opening: Promise<PGlite> = 'db' in o ? Promise.resolve(o.db) : boot(o)
  // Keep a failed open from being an unhandled rejection before the first query awaits it.
  opening.catch(() => {})
  let closed = false

  function exclusive<T>(fn: (db: PGlite) => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new DbClosedError(`node ${name}`))
    return opening.then((db) =>
      lockOf(db).run(async () => {
        if (closed) throw new DbClosedError(`node ${name}`)
        return fn(db)
      }),
    )
  }

  const sessionOf = (db: PGlite): Session => ({
    async query(statement, values) {
      // PGlite has no named prepared statements to keep: a statement's name is a hint it goes without.
      const { text, values: params } = textAndValues(statement, values)
      const result = await db.query<never>(text, params)
      // PGlite's runtime result has pg's `rowCount` (rows for SELECT, affected rows otherwise); older
      // releases only `affectedRows`, which is 0 for a SELECT.
      const rowCount =
        (result as { rowCount?: number }).rowCount ?? (result.affectedRows || result.rows.length)
      return { rows: result.rows, rowCount }
    },
    async exec(script) {
      await db.exec(script)
    },
  })

  return {
    kind: 'pglite',
    name,
    query: (sql, params) => exclusive((db) => sessionOf(db).query(sql, params)),
    session: (fn) => exclusive((db) => runSession(db, sessionOf(db), fn)),
    transaction: (fn, isolation) =>
      exclusive(async (db) => {
        await db.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`)
        let open = true
        const session = sessionOf(db)
        const guarded: Queryable = {
          query: (sql, params) =>
            open ? session.query(sql, params) : Promise.reject(new DbClosedError('transaction')),
        }
        let result: Awaited<ReturnType<typeof fn>>
        try {
          result = await fn(guarded)
          const commit = await db.query('COMMIT')
          if ((commit as { command?: string }).command === 'ROLLBACK')
            throw new TransactionRolledBackError(name)
        } catch (error) {
          open = false
          await db.query('ROLLBACK').catch(() => {})
          throw error
        }
        open = false
        const lsn = await db.query<{ lsn: string }>(COMMIT_LSN_SQL)
        return { result, lsn: lsn.rows[0]!.lsn }
      }),
    async listen(channel, onNotify) {
      const quoted = quoteChannel(channel)
      // Under the lock, so a LISTEN never lands inside another caller's open transaction (and is undone
      // by its rollback). PGlite delivers notifications after the notifying transaction commits.
      const unlisten = await exclusive((db) => db.listen(quoted, onNotify))
      return async () => {
        if (!closed) await exclusive(() => unlisten())
      }
    },
    async close() {
      if (closed) return
      closed = true
      // Wait for work already queued, then close what this adapter opened.
      const db = await opening.catch(() => null)
      if (!db) return
      await lockOf(db).run(async () => {})
      if (owned) await db.close()
    },
  }
}

function boot(o: { dataDir?: string; migrations?: Migration[]; cacheDir?: string | false }) {
  // Ordered (and so checked) now: bad migrations fail here, not inside a template build.
  const ordered = orderMigrations(o.migrations ?? [])
  const template = ordered.length
    ? {
        // The same fields migrateNode checks: the same key, the same schema.
        key: JSON.stringify(ordered.map((m) => [m.module, m.version, m.name, m.sql])),
        setup: async (db: PGlite) => {
          await migrateNode(0, createPgliteNode({ db }), ordered)
        },
      }
    : undefined
  return bootPglite({ dataDir: o.dataDir, template, cacheDir: o.cacheDir })
}

// One lock per database, not per adapter: two adapters over one PGlite (two Shards in one process, as in
// the tests of concurrent migrations) still share its single connection.
const locks = new WeakMap<PGlite, Mutex>()
function lockOf(db: PGlite): Mutex {
  let lock = locks.get(db)
  if (!lock) {
    lock = new Mutex()
    locks.set(db, lock)
  }
  return lock
}

async function runSession<T>(db: PGlite, session: Session, fn: (s: Session) => Promise<T>): Promise<T> {
  try {
    return await fn(session)
  } catch (error) {
    // The one connection is shared by everyone: never leave it inside a failed session's transaction.
    await db.query('ROLLBACK').catch(() => {})
    throw error
  }
}
