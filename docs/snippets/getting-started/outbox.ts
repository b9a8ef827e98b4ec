// Getting started, part 2: the order service on PostgreSQL and NATS JetStream.
// Run: DATABASE_URL=postgres://user@127.0.0.1:5432/shop NATS_URL=nats://127.0.0.1:4222 npx tsx outbox.ts
// #region main
import { createShards } from 'concord/db'
import { createNatsBroker } from 'concord/nats'
import { createRelay } from 'concord/outbox'
import { createPgNode } from 'concord/pg'
import pg from 'pg'
import { migrate, placeOrder, startShipping, waitForShipment } from './orders.js'

// Your application's pool: concord runs its transactions, relay and inbox on it and opens no other.
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 5 })
const shards = createShards({ primary: createPgNode({ pool }) })
const broker = createNatsBroker({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' })
const relay = createRelay({ shards, broker }) // drains the outbox table into the broker

await migrate(shards)
const shipping = await startShipping(shards, broker)
await relay.start()

const id = `order-${Date.now()}`
const lsn = await placeOrder(shards, { id, item: 'book', quantity: 1 })
console.log(`placed ${id} (committed at LSN ${lsn})`)
console.log(`shipped ${await waitForShipment(shards, id)} for ${id}`)

await shipping.close()
await relay.close()
await broker.close()
await shards.close()
await pool.end()
// #endregion main
