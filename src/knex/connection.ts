import type { Knex } from 'knex'
import type { Connection } from '../db/kit.js'
import { NotATransactionError, splitPlaceholders, textAndValues } from '../db/kit.js'

/**
 * A Knex transaction (pg client) as concord's `Connection`:
 *
 * ```ts
 * await knex.transaction(async (trx) => {
 *   await trx('orders').insert(order)
 *   await outbox.add(knexTx(trx), event)
 * })
 * ```
 *
 * Each statement runs as `trx.raw` with `?` bindings on the transaction's connection. Knex takes no statement
 * name, so concord's named statements run unnamed.
 * @throws NotATransactionError for a Knex instance that is not a transaction.
 */
export function knexTx(trx: Knex.Transaction): Connection {
  if (typeof trx?.raw !== 'function' || typeof trx.commit !== 'function' || !trx.isTransaction) {
    throw new NotATransactionError('knexTx', 'not queryable')
  }
  return {
    async query<R>(statement: Parameters<Connection['query']>[0], values?: unknown[]) {
      const s = textAndValues(statement, values)
      const { parts, indexes } = splitPlaceholders(s.text)
      // `?` is Knex's placeholder; a literal one in the SQL would need escaping as `\?` (concord's SQL has none).
      const text = parts.map((p) => p.replace(/\?/g, '\\?')).join('?')
      const result = (await trx.raw(
        text,
        indexes.map((i) => s.values[i]) as Knex.RawBinding[],
      )) as unknown as { rows: R[]; rowCount: number | null }
      return { rows: result.rows, rowCount: result.rowCount }
    },
  }
}
