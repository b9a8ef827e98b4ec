import type { Shards } from 'concord/db'
import { compensateOnce, defineSaga, once, SagaStepRejectedError } from 'concord/saga'
import type { ServiceClient } from '../../gateway/directory.js'

export interface OrderInput {
  orderId: string
  memberId: number
  productId: number
  quantity: number
  points: number
  unitPrice: number
}

/** A participant's answer: 2xx is done, 409 a business "no" (no retry), anything else a fault to retry. */
function expectOk(step: string, response: { status: number; body: unknown }): unknown {
  if (response.status >= 200 && response.status < 300) return response.body
  const message = (response.body as { error?: string } | undefined)?.error ?? `status ${response.status}`
  if (response.status === 409) throw new SagaStepRejectedError(`${step}: ${message}`)
  throw new Error(`${step} failed: ${message}`)
}

/**
 * The cross-shard order as an orchestrated saga: the order row on its shard, stock on the product's shard,
 * points on the member's. Using the points is the pivot: once they are taken the order only goes forward.
 * Every effect is applied once per idempotency key in the participant's own transaction.
 */
export function orderSaga(shards: Shards, products: ServiceClient, members: ServiceClient) {
  return defineSaga<OrderInput>('order', [
    {
      name: 'createOrder',
      action: ({ input, idempotencyKey }) =>
        shards
          .withTransaction(input.orderId, (tx) =>
            once(tx, idempotencyKey, async () => {
              await tx.query(
                `INSERT INTO orders (id, status, member_id, product_id, quantity, points, unit_price)
                 VALUES ($1, 'PENDING', $2, $3, $4, $5, $6)`,
                [
                  input.orderId,
                  input.memberId,
                  input.productId,
                  input.quantity,
                  input.points,
                  input.unitPrice,
                ],
              )
              return { created: true }
            }),
          )
          .then(({ result }) => result),
      compensate: (ctx) =>
        shards
          .withTransaction(ctx.input.orderId, (tx) =>
            compensateOnce(tx, ctx, () =>
              tx.query(
                `UPDATE orders SET status = 'CANCELLED', reason = $2, updated_at = now()
                 WHERE id = $1 AND status = 'PENDING'`,
                [ctx.input.orderId, 'compensated'],
              ),
            ),
          )
          .then(({ result }) => result),
    },
    {
      name: 'reserveStock',
      action: async ({ input, idempotencyKey }) =>
        expectOk(
          'reserve stock',
          await products.call('POST', '/internal/stock/reserve', {
            productId: input.productId,
            quantity: input.quantity,
            key: idempotencyKey,
          }),
        ),
      compensate: async ({ input, actionKey, compensationKey }) =>
        expectOk(
          'release stock',
          await products.call('POST', '/internal/stock/release', {
            productId: input.productId,
            quantity: input.quantity,
            actionKey,
            compensationKey,
          }),
        ),
    },
    {
      name: 'usePoints',
      kind: 'pivot',
      action: async ({ input, idempotencyKey }) =>
        expectOk(
          'use points',
          await members.call('POST', '/internal/points/use', {
            memberId: input.memberId,
            points: input.points,
            key: idempotencyKey,
          }),
        ),
      // Runs only if the pivot failed: an attempt may have committed unseen before a timeout.
      compensate: async ({ input, actionKey, compensationKey }) =>
        expectOk(
          'refund points',
          await members.call('POST', '/internal/points/refund', {
            memberId: input.memberId,
            points: input.points,
            actionKey,
            compensationKey,
          }),
        ),
    },
    {
      name: 'confirm',
      kind: 'retriable',
      action: ({ input }) =>
        shards
          .withTransaction(input.orderId, (tx) =>
            tx.query(
              `UPDATE orders SET status = 'CONFIRMED', updated_at = now() WHERE id = $1 AND status = 'PENDING'`,
              [input.orderId],
            ),
          )
          .then(() => ({ confirmed: true })),
    },
  ])
}
