import type { Connection, Queryable } from '../db/kit.js'
import { assertConnection, explainMissingTable } from '../db/kit.js'
import { SagaEffectCancelledError } from './errors.js'

/**
 * Participant helpers: a step's effect applied once per idempotency key, recorded in the participant's
 * own transaction (table `concord_saga_effect` on its shard, from `sagaMigrations`). A retried or
 * resumed step then finds its key and does nothing twice; the key row commits or rolls back with the effect.
 */

interface EffectRow {
  state: 'done' | 'cancelled'
  result: unknown
}

/**
 * Runs `fn` in `tx` unless `key` was applied before; returns `fn`'s result, or the stored result of the
 * first time. A concurrent duplicate waits on the key's row lock, then sees it applied. If the step's
 * compensation already cancelled the key (the action arrived late), throws `SagaEffectCancelledError`
 * so the late action's transaction rolls back.
 *
 * @example
 * action: (ctx) => shards.withTransaction(productId, (tx) =>
 *   once(tx, ctx.idempotencyKey, () => tx.query('UPDATE product SET stock = stock - $1 ...', [qty])))
 */
export async function once<T>(tx: Connection, key: string, fn: () => Promise<T> | T): Promise<T> {
  assertConnection(tx, 'once')
  const inserted = await tx
    .query(
      "INSERT INTO concord_saga_effect (key, state) VALUES ($1, 'done') ON CONFLICT (key) DO NOTHING RETURNING key",
      [key],
    )
    .catch((error) => {
      throw explainMissingTable(error)
    })
  if (inserted.rows.length === 0) {
    const row = await effect(tx, key)
    if (row?.state === 'cancelled') throw new SagaEffectCancelledError(key)
    return row?.result as T
  }
  const result = await fn()
  if (result !== undefined) {
    await tx.query('UPDATE concord_saga_effect SET result = $2::jsonb WHERE key = $1', [
      key,
      JSON.stringify(result),
    ])
  }
  return result
}

/**
 * Runs a compensation in `tx` once, and only if the action took effect here: `fn` gets the action's
 * stored result. If the action never ran, its key is marked cancelled, so a late action (a timed-out
 * attempt still in flight) does nothing, and `fn` is not called. Returns whether `fn` ran now.
 *
 * @example
 * compensate: (ctx) => shards.withTransaction(productId, (tx) =>
 *   compensateOnce(tx, ctx, () => tx.query('UPDATE product SET stock = stock + $1 ...', [qty])))
 */
export async function compensateOnce<R>(
  tx: Connection,
  keys: { actionKey: string; compensationKey: string },
  fn: (actionResult: R) => Promise<unknown> | unknown,
): Promise<boolean> {
  assertConnection(tx, 'compensateOnce')
  const cancelled = await tx
    .query(
      "INSERT INTO concord_saga_effect (key, state) VALUES ($1, 'cancelled') ON CONFLICT (key) DO NOTHING RETURNING key",
      [keys.actionKey],
    )
    .catch((error) => {
      throw explainMissingTable(error)
    })
  if (cancelled.rows.length > 0) return false
  const action = await effect(tx, keys.actionKey)
  if (action?.state !== 'done') return false
  let ran = false
  await once(tx, keys.compensationKey, async () => {
    ran = true
    await fn(action.result as R)
  })
  return ran
}

async function effect(tx: Queryable, key: string): Promise<EffectRow | undefined> {
  const { rows } = await tx.query('SELECT state, result FROM concord_saga_effect WHERE key = $1', [key])
  const row = rows[0] as { state: EffectRow['state']; result: unknown } | undefined
  if (!row) return undefined
  return { state: row.state, result: row.result }
}
