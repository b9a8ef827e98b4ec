import { PGlite } from '@electric-sql/pglite'
import { z } from 'zod'
import type { NodeAdapter, Queryable, Session } from '../db/kit.js'
import { COMMIT_LSN_SQL, DbClosedError, Mutex, quoteChannel, TransactionRolledBackError } from '../db/kit.js'
import { parseOptions } from '../options.js'

const schema = z.union([
  z.object({ db: z.instanceof(PGlite), name: z.string().min(1).optional() }).strict(),
  z
    .object({
      /** A directory for the data files; in memory when absent. */
      dataDir: z.string().min(1).optional(),
      name: z.string().min(1).optional(),
    })
    .strict(),
])

export type PgliteNodeOptions = { dataDir?: string; name?: string } | { db: PGlite; name?: string }

/**
 * An embedded PostgreSQL (PGlite): a shard without replicas, for the demo and tests. PGlite has one
 * connection, so every query, session and transaction here waits its turn on one lock; statements of
 * concurrent transactions never interleave. A `db` passed in stays open on `close()` (its owner closes it).
 */
export function createPgliteNode(options: PgliteNodeOptions = {}): NodeAdapter {
  const o = parseOptions('createPgliteNode', schema, options)
  const owned = !('db' in o)
  const dataDir = 'dataDir' in o ? o.dataDir : undefined
  const name = o.name ?? (owned ? `pglite:${dataDir ?? 'memory'}` : 'pglite')
  const opening: Promise<PGlite> = 'db' in o ? Promise.resolve(o.db) : PGlite.create(dataDir)
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
      const [sql, params] =
        typeof statement === 'string' ? [statement, values] : [statement.text, statement.values ?? values]
      const result = await db.query<never>(sql, params)
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
