/**
 * A plain service on its own pg.Pool and Kysely, with concord's outbox and inbox inside its Kysely transactions.
 * concord opens no pool of its own: the relay, the inbox and the LISTEN connection use the application's pool.
 */

import type { Broker, Subscription } from 'concord/broker'
import { createShards, readCommitLsn } from 'concord/db'
import { kyselyTx } from 'concord/kysely'
import { createInbox, createOutbox, createRelay, outboxMigrations } from 'concord/outbox'
import { createPgNode } from 'concord/pg'
import { Kysely, PostgresDialect } from 'kysely'
import type pg from 'pg'

interface Db {
  orders: { id: string; item: string; quantity: number }
  shipments: { order_id: string; item: string }
}

export interface OrderService {
  /** Places an order and its OrderPlaced event in one transaction; returns the commit LSN (for a cache, C4). */
  placeOrder(order: { id: string; item: string; quantity: number }): Promise<{ lsn: string }>
  shipments(): Promise<{ order_id: string; item: string }[]>
  close(): Promise<void>
}

export async function startOrderService(options: {
  pool: pg.Pool
  broker: Broker
  onError?: (error: unknown) => void
}): Promise<OrderService> {
  const { pool, broker } = options
  const onError = options.onError ?? ((error: unknown) => console.error(error))
  const db = new Kysely<Db>({ dialect: new PostgresDialect({ pool }) })
  // One database on the application's pool: no shard map, no shard key, no second pool.
  const shards = createShards({ primary: createPgNode({ pool }) })
  await shards.migrate([
    ...outboxMigrations,
    {
      module: 'orders',
      version: 1,
      name: 'orders and shipments',
      sql: `CREATE TABLE orders (id text PRIMARY KEY, item text NOT NULL, quantity int NOT NULL CHECK (quantity > 0));
            CREATE TABLE shipments (order_id text PRIMARY KEY, item text NOT NULL);`,
    },
  ])

  const outbox = createOutbox()
  const relay = createRelay({ shards, broker, id: 'own-pool-relay' })
  const inbox = createInbox({ shards, consumer: 'shipping', onError })
  await relay.start()

  // The consumer applies each event once, in a Kysely transaction of its own.
  const subscription: Subscription = await broker.subscribe(
    'order',
    'shipping',
    (event) =>
      db
        .transaction()
        .execute((trx) =>
          inbox.handleIn(kyselyTx(trx), event, async (e) => {
            const { item } = e.payload as { item: string }
            await trx.insertInto('shipments').values({ order_id: e.aggregateId, item }).execute()
          }),
        )
        .then(() => undefined),
    { onError },
  )

  return {
    async placeOrder(order) {
      await db.transaction().execute(async (trx) => {
        await trx.insertInto('orders').values(order).execute()
        await outbox.add(kyselyTx(trx), {
          aggregateType: 'order',
          aggregateId: order.id,
          aggregateVersion: 1,
          type: 'OrderPlaced',
          payload: { item: order.item, quantity: order.quantity },
        })
      })
      // Read after COMMIT returned: at or past the commit's own LSN, so a cache invalidated with it never refills
      // from a replica that lacks the order.
      return { lsn: await readCommitLsn(pool) }
    },
    shipments: () => db.selectFrom('shipments').selectAll().orderBy('order_id').execute(),
    async close() {
      await subscription.close()
      await relay.close()
      await shards.close()
    },
  }
}
