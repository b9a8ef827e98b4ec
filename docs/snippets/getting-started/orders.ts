// Getting started, part 2: an order service on your own PostgreSQL. The order row and its OrderPlaced event
// commit in one transaction (the outbox); a relay publishes the event; a shipping consumer handles it once
// (the inbox). The same module runs on PostgreSQL + NATS (outbox.ts) and embedded (embedded.ts).
// #region migrate
import type { Broker, Subscription } from 'concord/broker'
import type { Shards } from 'concord/db'
import { createInbox, createOutbox, outboxMigrations } from 'concord/outbox'

export interface Order {
  id: string
  item: string
  quantity: number
}

/** Creates concord's outbox and inbox tables and the service's own, once (a ledger skips what was applied). */
export async function migrate(shards: Shards): Promise<void> {
  await shards.migrate([
    ...outboxMigrations,
    {
      module: 'shop',
      version: 1,
      name: 'orders and shipments',
      sql: `CREATE TABLE orders (id text PRIMARY KEY, item text NOT NULL, quantity int NOT NULL CHECK (quantity > 0));
            CREATE TABLE shipments (order_id text PRIMARY KEY, item text NOT NULL);`,
    },
  ])
}
// #endregion migrate

// #region place
const outbox = createOutbox()

/** Writes the order and its event in one transaction: both commit, or neither. Returns the commit LSN. */
export async function placeOrder(shards: Shards, order: Order): Promise<string> {
  const { lsn } = await shards.withTransaction(order.id, async (tx) => {
    await tx.query('INSERT INTO orders (id, item, quantity) VALUES ($1, $2, $3)', [
      order.id,
      order.item,
      order.quantity,
    ])
    await outbox.add(tx, {
      aggregateType: 'order', // the topic the relay publishes to
      aggregateId: order.id, // events of one aggregate are delivered in order
      aggregateVersion: 1,
      type: 'OrderPlaced',
      payload: { item: order.item, quantity: order.quantity },
    })
  })
  return lsn
}
// #endregion place

// #region ship
/** The shipping consumer: each OrderPlaced event becomes one shipment, however often it is delivered. */
export async function startShipping(shards: Shards, broker: Broker): Promise<Subscription> {
  const inbox = createInbox({ shards, consumer: 'shipping' })
  return broker.subscribe('order', 'shipping', async (event) => {
    // The dedup record and the shipment commit in one transaction: a redelivery is a no-op.
    await inbox.handle(event, async (tx, e) => {
      const { item } = e.payload as { item: string }
      await tx.query('INSERT INTO shipments (order_id, item) VALUES ($1, $2)', [e.aggregateId, item])
    })
  })
}
// #endregion ship

// #region shipped
/** Polls until the order's shipment is there (a demo's wait; a service would just go on). */
export async function waitForShipment(shards: Shards, orderId: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { rows } = await shards.read(orderId, (q) =>
      q.query<{ item: string }>('SELECT item FROM shipments WHERE order_id = $1', [orderId]),
    )
    if (rows[0]) return rows[0].item
    if (Date.now() > deadline) throw new Error(`${orderId} was not shipped within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
// #endregion shipped
