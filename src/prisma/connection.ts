import type { Connection } from '../db/kit.js'
import { NotATransactionError, textAndValues } from '../db/kit.js'

/** The part of a Prisma interactive transaction client (`$transaction(async (tx) => ...)`) the adapter uses. */
export interface PrismaTxLike {
  /** Runs a parameterised query in the transaction and returns its rows. */
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>
  /** Runs a parameterised statement in the transaction and returns the rows it changed. */
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>
}

// Statements that return rows; the others return a count of the rows they changed.
const RETURNS_ROWS = /^\s*(select|with|values|show)\b|\breturning\b/i

/**
 * A Prisma interactive transaction (PostgreSQL) as concord's `Connection`:
 *
 * ```ts
 * await prisma.$transaction(async (tx) => {
 *   await tx.order.create({ data: order })
 *   await outbox.add(prismaTx(tx), event)
 * })
 * ```
 *
 * Statements run as raw queries with `$1` parameters: a statement that returns rows through
 * `$queryRawUnsafe` (its `rowCount` is the number of rows), any other through `$executeRawUnsafe` (its count).
 * Prisma has no named prepared statements, so concord's run unnamed. Only an interactive transaction keeps
 * statements on one connection: the batch form `$transaction([...])` and the plain client are refused.
 * @throws NotATransactionError for the `PrismaClient` itself (it has `$disconnect`, a transaction client has not).
 */
export function prismaTx(tx: PrismaTxLike): Connection {
  if (typeof tx?.$queryRawUnsafe !== 'function' || typeof tx.$executeRawUnsafe !== 'function') {
    throw new NotATransactionError('prismaTx', 'not queryable')
  }
  // The root client has $connect/$disconnect; the client an interactive transaction hands its callback does not.
  if (typeof (tx as { $disconnect?: unknown }).$disconnect === 'function') {
    throw new NotATransactionError('prismaTx', 'pool')
  }
  return {
    async query<R>(statement: Parameters<Connection['query']>[0], values?: unknown[]) {
      const s = textAndValues(statement, values)
      if (RETURNS_ROWS.test(s.text)) {
        const rows = await tx.$queryRawUnsafe<R[]>(s.text, ...s.values)
        return { rows, rowCount: rows.length }
      }
      const count = await tx.$executeRawUnsafe(s.text, ...s.values)
      return { rows: [], rowCount: count }
    },
  }
}
