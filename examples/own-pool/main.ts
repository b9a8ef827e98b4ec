/**
 * Runs the own-pool example: `DATABASE_URL=postgres://... NATS_URL=nats://... npm run example:own-pool`.
 * Places one order, waits until the shipping consumer has handled it, prints the shipments and exits.
 */

import { createNatsBroker } from 'concord/nats'
import pg from 'pg'
import { startOrderService } from './service.js'

const databaseUrl = process.env.DATABASE_URL
const natsUrl = process.env.NATS_URL
if (!databaseUrl || !natsUrl) {
  console.error('set DATABASE_URL and NATS_URL')
  process.exit(2)
}

const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 })
const broker = createNatsBroker({ servers: natsUrl })
const service = await startOrderService({ pool, broker })
try {
  const id = `order-${Date.now()}`
  const { lsn } = await service.placeOrder({ id, item: 'book', quantity: 1 })
  console.log(`placed ${id}, committed at ${lsn}`)
  const deadline = Date.now() + 10_000
  while (!(await service.shipments()).some((s) => s.order_id === id)) {
    if (Date.now() > deadline) throw new Error(`${id} was not shipped within 10 s`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  console.log('shipments:', await service.shipments())
} finally {
  await service.close()
  await broker.close()
  await pool.end()
}
