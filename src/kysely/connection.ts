import { CompiledQuery, type Transaction } from 'kysely'
import type { Connection } from '../db/kit.js'
import { NotATransactionError, textAndValues } from '../db/kit.js'

/**
 * A Kysely transaction as concord's `Connection`, for `outbox.add`, `inbox.handleIn`, `applyIfNewer`, `once`:
 *
 * ```ts
 * await db.transaction().execute(async (trx) => {
 *   await trx.insertInto('orders').values(order).execute()
 *   await outbox.add(kyselyTx(trx), event)
 * })
 * ```
 *
 * Statements run as Kysely raw queries on the transaction's connection. Kysely's drivers take no statement
 * name, so concord's named (prepared) statements run unnamed: parsed and planned each time.
 * @throws NotATransactionError for a `Kysely` that is not a transaction.
 */
export function kyselyTx<DB>(trx: Transaction<DB>): Connection {
  if (!(trx as { isTransaction?: boolean })?.isTransaction) {
    throw new NotATransactionError('kyselyTx', 'not queryable')
  }
  return {
    async query<R>(statement: Parameters<Connection['query']>[0], values?: unknown[]) {
      const s = textAndValues(statement, values)
      const result = await trx.executeQuery<R>(CompiledQuery.raw(s.text, s.values))
      const affected = result.numAffectedRows
      return {
        rows: [...result.rows],
        rowCount: affected !== undefined ? Number(affected) : result.rows.length,
      }
    },
  }
}
