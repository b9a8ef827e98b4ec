// Getting started, embedded: the same cache and order service with no servers at all. PostgreSQL is PGlite
// (WebAssembly, in this process) and the L2 tier, the bus and the broker are concord/memory's adapters.
// Run: npx tsx embedded.ts
// #region main
import { createCache } from 'concord/cache'
import { createShards } from 'concord/db'
import { createMemoryBroker, createMemoryBus, createMemoryTier } from 'concord/memory'
import { createRelay } from 'concord/outbox'
import { createPgliteNode } from 'concord/pglite'
import { migrate, type Order, placeOrder, startShipping, waitForShipment } from './orders.js'

const shards = createShards({ primary: createPgliteNode() }) // in memory; { dataDir } keeps it on disk
const broker = createMemoryBroker()
const relay = createRelay({ shards, broker })

await migrate(shards)
const shipping = await startShipping(shards, broker)
await relay.start()

// Two cache instances sharing one in-process L2 and bus, as two instances share Redis.
const tier = createMemoryTier()
const bus = createMemoryBus()
const orders = ['a', 'b'].map((instanceId) =>
  createCache<Order>({ name: 'orders', instanceId, l2: tier, bus }),
)
const loadOrder = (id: string) => async (): Promise<Order> => {
  const { rows } = await shards.read(id, (q) => q.query<Order>('SELECT * FROM orders WHERE id = $1', [id]))
  return rows[0]!
}

const id = `order-${Date.now()}`
const lsn = await placeOrder(shards, { id, item: 'lamp', quantity: 2 })
const cached = await orders[0]!.getOrLoad(id, loadOrder(id))
console.log(`placed ${id} (LSN ${lsn}); cache a read ${cached.quantity} x ${cached.item}`)
console.log(`cache b read ${(await orders[1]!.getOrLoad(id, loadOrder(id))).item} from the shared tier`)
console.log(`shipped ${await waitForShipment(shards, id)} for ${id}`)

await Promise.all(orders.map((cache) => cache.close()))
await shipping.close()
await relay.close()
await broker.close()
await shards.close()
// #endregion main
