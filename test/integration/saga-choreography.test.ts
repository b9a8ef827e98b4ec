import type { Broker, EventEnvelope, Subscription } from 'concord/broker'
import type { Shards, Tx } from 'concord/db'
import { createInbox, createOutbox, createRelay, outboxMigrations, type Relay } from 'concord/outbox'
import { defineChoreography, processHandler, reactOnce, undoOnce } from 'concord/saga'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createNatsBroker } from '../../src/nats/index.js'
import { conservation, type OrderInput, orderShards, seed } from '../support/saga-order.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// The event-driven order: PENDING -> (StockReserved, PointsUsed) -> CONFIRMED; a failure event ->
// CANCELLED, OrderCancelled -> StockRestored / PointsRefunded. Every handler runs through an inbox,
// every event goes out through the outbox and a relay, on three real PostgreSQL shards.

const STOCK = 100
const POINTS = 1_000
let shards: Shards
let broker: Broker
let relay: Relay
const subs: Subscription[] = []
const compensations: string[] = []
const outbox = createOutbox()
const order = defineChoreography({
  name: 'order',
  awaits: ['StockReserved', 'PointsUsed'],
  failures: ['StockRejected', 'PointsRejected'],
})
const orderKey = (id: string) => `order:${id}`
let next = 0

const emit = (
  tx: Tx,
  aggregateType: string,
  orderId: string,
  version: number,
  type: string,
  payload: unknown,
) => outbox.add(tx, { aggregateType, aggregateId: orderId, aggregateVersion: version, type, payload })

/** A participant: takes `amount` of `column` from its row on OrderPlaced, gives it back on OrderCancelled. */
async function participant(
  step: 'stock' | 'points',
  table: string,
  column: string,
  events: [string, string, string],
) {
  const [done, rejected, undone] = events
  const inbox = createInbox({ shards, consumer: step })
  const rowOf = (o: OrderInput) => (step === 'stock' ? o.productId : o.memberId)
  const amountOf = (o: OrderInput) => (step === 'stock' ? o.quantity : o.points)
  subs.push(
    await broker.subscribe('order', step, async (event) => {
      const input = (event.payload as { order: OrderInput }).order
      await inbox.handle(
        event,
        async (tx) => {
          if (event.type === 'OrderPlaced') {
            const r = await reactOnce(tx, input.orderId, step, async () => {
              const u = await tx.query(
                `UPDATE ${table} SET ${column} = ${column} - $2 WHERE id = $1 AND ${column} >= $2`,
                [rowOf(input), amountOf(input)],
              )
              return { taken: u.rowCount === 1 }
            })
            if (r.applied)
              await emit(tx, step, input.orderId, 1, r.result.taken ? done : rejected, { order: input })
          } else if (event.type === 'OrderCancelled') {
            let gaveBack = false
            await undoOnce<{ taken: boolean }>(tx, input.orderId, step, async (result) => {
              if (!result.taken) return
              await tx.query(`UPDATE ${table} SET ${column} = ${column} + $2 WHERE id = $1`, [
                rowOf(input),
                amountOf(input),
              ])
              gaveBack = true
            })
            if (gaveBack) {
              await emit(tx, step, input.orderId, 2, undone, { order: input })
              compensations.push(`${input.orderId}:${undone}`)
            }
          }
        },
        { shardKey: `${step === 'stock' ? 'product' : 'member'}:${rowOf(input)}` },
      )
    }),
  )
}

beforeAll(async () => {
  const pg = sharedServices().postgres
  const dbs = await Promise.all([0, 1, 2].map(() => pg.createDatabase('saga_choreo')))
  shards = await orderShards(dbs.map((d) => d.primaryUrl))
  await shards.migrate([...outboxMigrations])
  await seed(shards, { products: 3, members: 3, stock: STOCK, points: POINTS })
  // The harness's nats-server, in a stream namespace of this file's own.
  broker = createNatsBroker({ servers: sharedServices().nats.url, prefix: uniqueName('choreo') })
  relay = createRelay({ shards, broker, pollInterval: '20ms' })
  await relay.start()
  await participant('stock', 'product', 'stock', ['StockReserved', 'StockRejected', 'StockRestored'])
  await participant('points', 'member', 'points', ['PointsUsed', 'PointsRejected', 'PointsRefunded'])
  const inbox = createInbox({ shards, consumer: 'order-process' })
  const handler = processHandler({
    process: order,
    inbox,
    processIdOf: (e: EventEnvelope) => e.aggregateId,
    shardKeyOf: orderKey,
    async onEnd(tx, id, end, e) {
      await tx.query('UPDATE orders SET status = $2 WHERE id = $1', [id, end])
      const input = (e.payload as { order: OrderInput }).order
      await emit(tx, 'order', id, 2, end === 'CONFIRMED' ? 'OrderConfirmed' : 'OrderCancelled', {
        order: input,
      })
    },
  })
  for (const topic of ['stock', 'points']) {
    subs.push(
      await broker.subscribe(topic, 'order-process', async (e) => {
        await handler(e)
      }),
    )
  }
})
afterAll(async () => {
  for (const s of subs) await s.close?.()
  await relay?.close()
  await broker?.close()
  await shards?.close()
})

/** The order service: the order row, its process and OrderPlaced, in one transaction. */
async function placeOrder(overrides: Partial<OrderInput>): Promise<OrderInput> {
  next += 1
  const input: OrderInput = {
    orderId: `c-${next}`,
    productId: 1,
    memberId: 1,
    quantity: 1,
    points: 10,
    ...overrides,
  }
  await shards.withTransaction(orderKey(input.orderId), async (tx) => {
    await tx.query(
      `INSERT INTO orders (id, product_id, member_id, quantity, points, status) VALUES ($1, $2, $3, $4, $5, 'PENDING')`,
      [input.orderId, input.productId, input.memberId, input.quantity, input.points],
    )
    await order.start(tx, input.orderId)
    await emit(tx, 'order', input.orderId, 1, 'OrderPlaced', { order: input })
  })
  return input
}

async function ended(input: OrderInput) {
  return waitFor(
    async () => {
      const s = await shards.read(orderKey(input.orderId), (q) => order.status(q, input.orderId), {
        primary: true,
      })
      return s && s.status !== 'PENDING' ? s : undefined
    },
    { timeoutMs: 15_000, what: `order ${input.orderId} to end` },
  )
}

describe('choreographed order over the outbox and inboxes', () => {
  it('is CONFIRMED once stock is reserved and points are used', async () => {
    const input = await placeOrder({ productId: 2, memberId: 2, quantity: 3, points: 40 })
    const s = await ended(input)
    expect(s.status).toBe('CONFIRMED')
    expect([...s.received].sort()).toEqual(['PointsUsed', 'StockReserved'])
    expect((await conservation(shards, { stock: STOCK, points: POINTS })).broken).toEqual([])
  })

  it('out of stock: CANCELLED, and the points taken meanwhile are refunded', async () => {
    const input = await placeOrder({ productId: 3, memberId: 3, quantity: STOCK * 5, points: 25 })
    const s = await ended(input)
    expect(s).toMatchObject({ status: 'CANCELLED', reason: 'StockRejected' })
    await waitFor(() => compensations.includes(`${input.orderId}:PointsRefunded`), {
      what: 'points refunded',
    })
    expect(compensations).not.toContain(`${input.orderId}:StockRestored`)
    expect((await conservation(shards, { stock: STOCK, points: POINTS })).broken).toEqual([])
  })

  it('many orders, some failing either way: each ends CONFIRMED or CANCELLED and nothing is lost', async () => {
    const inputs = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        placeOrder({
          productId: 1 + (i % 3),
          memberId: 1 + ((i + 1) % 3),
          quantity: i % 5 === 0 ? STOCK * 2 : 1,
          points: i % 7 === 0 ? POINTS * 2 : 5,
        }),
      ),
    )
    const statuses = await Promise.all(inputs.map(async (input) => (await ended(input)).status))
    expect(statuses.filter((s) => s === 'CANCELLED').length).toBeGreaterThan(0)
    expect(statuses.filter((s) => s === 'CONFIRMED').length).toBeGreaterThan(0)
    // Compensations arrive after the cancel: wait for the books to balance.
    await waitFor(
      async () => (await conservation(shards, { stock: STOCK, points: POINTS })).broken.length === 0,
      {
        timeoutMs: 15_000,
        what: 'stock and points to be conserved',
      },
    )
  })
})
