import { InvalidInputError } from '../errors.js'
import { TransactionRolledBackError } from './errors.js'
import { COMMIT_LSN_SQL } from './lsn.js'
import type { Connection, Isolation, Queryable } from './types.js'

/** What `withCommitLsn` needs of a pool: a node-postgres `Pool` fits (its `connect()` hands out a client). */
export interface PoolOf<C extends Queryable> {
  readonly totalCount: number
  /** Hands out a client that is `release()`d afterwards. */
  connect(): Promise<
    C & {
      /** Gives the client back to the pool (a truthy `error` discards it). */
      release(error?: Error | boolean): void
    }
  >
  // node-postgres' callback form, declared so that the client type is inferred from a pg.Pool (TypeScript infers
  // from the last of overloaded signatures); never called.
  /** node-postgres' callback form; declared for type inference only, never called. */
  connect(
    callback: (error: Error | undefined, client: C | undefined, done: (release?: never) => void) => void,
  ): void
}

/**
 * The WAL position of a commit that just returned, for `cache.invalidate(key, { lsn })` (C4) and
 * `shards.read(..., { minLsn })`. On the connection that ran COMMIT it is the commit's own end (or just past
 * it); on any other connection of the same server, read after COMMIT returned, it is at or past it, which is
 * as safe (a fill then waits for a replica that replayed a little more, or reads the primary), never stale.
 * `pg_current_wal_lsn()` read before COMMIT is not: it is before the commit record.
 */
export async function readCommitLsn(q: Queryable): Promise<string> {
  const { rows } = await q.query<{ lsn: string }>(COMMIT_LSN_SQL)
  return rows[0]!.lsn
}

/**
 * Runs `fn` in a transaction on the caller's own pool or client (`BEGIN`, `fn`, `COMMIT`), then reads the commit
 * LSN on the same connection, so the application's own write gets the token C4 needs in one call:
 *
 * ```ts
 * const { lsn } = await withCommitLsn(pool, (client) => client.query('UPDATE product SET ...', [...]))
 * await productCache.invalidate(`product:${id}`, { lsn })
 * ```
 *
 * A pool lends one client for the whole call. `fn`'s error, or a COMMIT that rolled back (a statement inside
 * failed and was caught), rolls back and rejects. Not retried: a serialisation failure is the caller's to retry.
 */
export function withCommitLsn<C extends Queryable, T>(
  pool: PoolOf<C>,
  fn: (tx: C) => Promise<T>,
  options?: { isolation?: Isolation },
): Promise<{ result: T; lsn: string }>
export function withCommitLsn<C extends Connection, T>(
  client: C,
  fn: (tx: C) => Promise<T>,
  options?: { isolation?: Isolation },
): Promise<{ result: T; lsn: string }>
export async function withCommitLsn<C extends Queryable, T>(
  source: C | PoolOf<C>,
  fn: (tx: C) => Promise<T>,
  options: { isolation?: Isolation } = {},
): Promise<{ result: T; lsn: string }> {
  const isolation = options.isolation ?? 'read committed'
  // The level goes into the statement's text: only the three names pass.
  if (!ISOLATIONS.includes(isolation)) {
    throw new InvalidInputError(`isolation must be one of ${ISOLATIONS.join(', ')}`, { isolation })
  }
  if (!isPool(source)) return transact(source as C, fn, isolation, () => {})
  const client = await source.connect()
  let broken: Error | undefined
  try {
    return await transact(client, fn, isolation, (error) => {
      broken = error
    })
  } finally {
    // A connection whose ROLLBACK failed may still hold the transaction: never hand it back to the pool.
    client.release(broken)
  }
}

const ISOLATIONS: readonly Isolation[] = ['read committed', 'repeatable read', 'serializable']

async function transact<C extends Queryable, T>(
  q: C,
  fn: (tx: C) => Promise<T>,
  isolation: Isolation,
  onBroken: (error: Error) => void,
): Promise<{ result: T; lsn: string }> {
  await q.query(`BEGIN ISOLATION LEVEL ${isolation.toUpperCase()}`)
  let result: T
  try {
    result = await fn(q)
    const commit = (await q.query('COMMIT')) as { command?: string }
    // COMMIT of a transaction in which a statement failed answers ROLLBACK instead of an error.
    if (commit.command === 'ROLLBACK') throw new TransactionRolledBackError("the caller's connection")
  } catch (error) {
    await q.query('ROLLBACK').catch((rollbackError: Error) => onBroken(rollbackError))
    throw error
  }
  return { result, lsn: await readCommitLsn(q) }
}

function isPool<C extends Queryable>(v: unknown): v is PoolOf<C> {
  return typeof (v as PoolOf<C>).totalCount === 'number' && typeof (v as PoolOf<C>).connect === 'function'
}
