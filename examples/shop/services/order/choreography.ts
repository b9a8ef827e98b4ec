import type { Broker, EventEnvelope, Subscription } from 'concord/broker'
import type { Shards, Tx } from 'concord/db'
import type { Inbox, Outbox } from 'concord/outbox'
import { defineChoreography, processHandler, reactOnce, undoOnce } from 'concord/saga'
import type { OrderInput } from './saga.js'

/**
 * The order as choreography (`?mode=events`): no orchestrator. The order starts PENDING with OrderPlaced;
 * the product service answers StockReserved or StockRejected, the member service PointsUsed or
 * PointsRejected, each through its inbox and outbox. Both successes confirm the order; the first failure
 * cancels it and emits OrderCancelled, to which each participant undoes its effect once, if it had one.
 */
export const orderProcess = defineChoreography({
  name: 'order',
  awaits: ['StockReserved', 'PointsUsed'],
  failures: ['StockRejected', 'PointsRejected'],
})

const orderEvent = (type: string, version: number, input: OrderInput) => ({
  aggregateType: 'order',
  aggregateId: input.orderId,
  aggregateVersion: version,
  type,
  payload: input,
})

/** The participants' answers go to the topic of their step, keyed by the order. */
const answer = (topic: 'stock' | 'points', type: string, orderId: string, reason?: string) => ({
  aggregateType: topic,
  aggregateId: orderId,
  aggregateVersion: 1,
  type,
  payload: { orderId, reason },
})

/** Writes the PENDING order, starts its process and emits OrderPlaced, in one transaction. */
export async function placeByEvents(shards: Shards, outbox: Outbox, input: OrderInput): Promise<void> {
  await shards.withTransaction(input.orderId, async (tx) => {
    await tx.query(
      `INSERT INTO orders (id, status, member_id, product_id, quantity, points, unit_price)
       VALUES ($1, 'PENDING', $2, $3, $4, $5, $6)`,
      [input.orderId, input.memberId, input.productId, input.quantity, input.points, input.unitPrice],
    )
    await orderProcess.start(tx, input.orderId)
    await outbox.add(tx, orderEvent('OrderPlaced', 1, input))
  })
}

/** The order service's side: records each answer and ends the order when the answers decide it. */
export async function subscribeOrderProcess(
  broker: Broker,
  inbox: Inbox,
  outbox: Outbox,
): Promise<Subscription[]> {
  const handle = processHandler({
    process: orderProcess,
    inbox,
    processIdOf: (event) => event.aggregateId,
    onEnd: async (tx, orderId, end) => {
      const { rows } = await tx.query<{ reason: string | null }>(
        `UPDATE orders SET status = $2, reason = $3, updated_at = now() WHERE id = $1 AND status = 'PENDING'
         RETURNING reason`,
        [orderId, end, end === 'CANCELLED' ? 'rejected' : null],
      )
      if (end === 'CANCELLED' && rows.length > 0) {
        const input = await orderInput(tx, orderId)
        await outbox.add(tx, orderEvent('OrderCancelled', 2, input))
      }
    },
  })
  return Promise.all([
    broker.subscribe('stock', 'order-process', async (event) => void (await handle(event))),
    broker.subscribe('points', 'order-process', async (event) => void (await handle(event))),
  ])
}

/** A participant of the order process: `take` applies its effect (or says why not), `give` undoes it. */
export interface OrderParticipant {
  step: 'stock' | 'points'
  accepted: string
  rejected: string
  undone: string
  shardKeyOf(input: OrderInput): number
  take(tx: Tx, input: OrderInput): Promise<{ ok: true } | { ok: false; reason: string }>
  give(tx: Tx, input: OrderInput): Promise<void>
}

/** Subscribes a participant to the order topic: once per order, through the inbox, answering by outbox. */
export function subscribeParticipant(
  broker: Broker,
  inbox: Inbox,
  outbox: Outbox,
  participant: OrderParticipant,
): Promise<Subscription> {
  const { step } = participant
  return broker.subscribe('order', `${step}-participant`, async (event: EventEnvelope) => {
    const input = event.payload as OrderInput
    const shardKey = participant.shardKeyOf(input)
    if (event.type === 'OrderPlaced') {
      await inbox.handle(
        event,
        async (tx) => {
          const reaction = await reactOnce(tx, input.orderId, step, () => participant.take(tx, input))
          if (!reaction.applied) return // the order was cancelled before this reached us
          const { result } = reaction
          await outbox.add(
            tx,
            result.ok
              ? answer(step, participant.accepted, input.orderId)
              : answer(step, participant.rejected, input.orderId, result.reason),
          )
        },
        { shardKey },
      )
    } else if (event.type === 'OrderCancelled') {
      await inbox.handle(
        event,
        async (tx) => {
          let gave = false
          await undoOnce<{ ok: boolean }>(tx, input.orderId, step, async (taken) => {
            if (!taken.ok) return
            await participant.give(tx, input)
            gave = true
          })
          if (gave) await outbox.add(tx, answer(step, participant.undone, input.orderId))
        },
        { shardKey },
      )
    }
  })
}

async function orderInput(tx: Tx, orderId: string): Promise<OrderInput> {
  const { rows } = await tx.query<{
    member_id: number
    product_id: number
    quantity: number
    points: string
    unit_price: string
  }>(
    'SELECT member_id, product_id, quantity, points::text AS points, unit_price::text AS unit_price FROM orders WHERE id = $1',
    [orderId],
  )
  const row = rows[0]!
  return {
    orderId,
    memberId: row.member_id,
    productId: row.product_id,
    quantity: row.quantity,
    points: Number(row.points),
    unitPrice: Number(row.unit_price),
  }
}
