import { type SQL, sql } from 'drizzle-orm'
import type { Connection } from '../db/kit.js'
import { NotATransactionError, splitPlaceholders, textAndValues } from '../db/kit.js'

/** The part of a Drizzle node-postgres transaction the adapter uses (`NodePgTransaction` has it). */
export interface DrizzleTxLike {
  /** Runs a Drizzle `sql` statement in the transaction. */
  execute(query: SQL): Promise<unknown>
  /** Aborts the transaction (Drizzle throws to unwind it). */
  rollback(): unknown
}

/**
 * A Drizzle transaction (node-postgres driver) as concord's `Connection`:
 *
 * ```ts
 * await db.transaction(async (tx) => {
 *   await tx.insert(orders).values(order)
 *   await outbox.add(drizzleTx(tx), event)
 * })
 * ```
 *
 * Each statement becomes Drizzle SQL with the values as parameters, on the transaction's connection. Drizzle
 * passes no statement name to the driver, so concord's named statements run unnamed. Drizzle on a `PoolClient`
 * you opened yourself (`drizzle({ client })` after BEGIN) needs no adapter: pass the client itself.
 * @throws NotATransactionError for a Drizzle database that is not a transaction.
 */
export function drizzleTx(tx: DrizzleTxLike): Connection {
  if (typeof tx?.execute !== 'function' || typeof tx.rollback !== 'function') {
    throw new NotATransactionError('drizzleTx', 'not queryable')
  }
  return {
    async query<R>(statement: Parameters<Connection['query']>[0], values?: unknown[]) {
      const s = textAndValues(statement, values)
      const { parts, indexes } = splitPlaceholders(s.text)
      const chunks: SQL[] = [sql.raw(parts[0]!)]
      indexes.forEach((index, i) => {
        // sql.param: one parameter even for an array (a template value would be spread into a list).
        chunks.push(sql`${sql.param(s.values[index])}`, sql.raw(parts[i + 1]!))
      })
      const result = (await tx.execute(sql.join(chunks))) as { rows: R[]; rowCount: number | null }
      return { rows: result.rows, rowCount: result.rowCount }
    },
  }
}
