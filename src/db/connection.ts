import { NotATransactionError } from './errors.js'
import type { Connection } from './types.js'

/**
 * Refuses, before anything is written, what is not one connection inside a transaction: a node-postgres
 * `Pool` (it has `totalCount`; its `connect()` hands out clients), a node-postgres client whose
 * `getTransactionStatus()` says idle, or a value with no `query`. Other Queryables (a concord `Tx`, an ORM
 * adapter) cannot be asked and pass.
 */
export function assertConnection(q: unknown, where: string): asserts q is Connection {
  const v = q as Record<string, unknown> | null
  if (typeof v?.query !== 'function') throw new NotATransactionError(where, 'not queryable')
  if (typeof v.totalCount === 'number' && typeof v.connect === 'function') {
    throw new NotATransactionError(where, 'pool')
  }
  if (typeof v.getTransactionStatus === 'function') {
    // node-postgres: 'I' idle, 'T' in a transaction, 'E' in a failed one (its statements fail on their own).
    if ((v.getTransactionStatus as () => unknown).call(v) === 'I') {
      throw new NotATransactionError(where, 'idle client')
    }
  }
}
