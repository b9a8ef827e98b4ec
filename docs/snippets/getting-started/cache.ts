// Getting started, part 1: one cache shared by two service instances through Redis.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx cache.ts
// #region setup
import { createCache } from 'concord/cache'
import { createRedisBus, createRedisTier } from 'concord/redis'

interface Product {
  id: string
  price: number
}

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

// What every instance of the service creates at start-up: an in-process L1, Redis as the shared L2,
// and Redis pub/sub as the bus that tells the other instances to drop a key.
function productCache(instanceId: string) {
  return createCache<Product>({
    name: 'products',
    instanceId,
    l2: createRedisTier({ url }),
    bus: createRedisBus({ url }),
    ttl: '5m',
  })
}
// #endregion setup

// #region database
// Stands in for your database: the loader is whatever reads the row.
const table = new Map<string, Product>([['p1', { id: 'p1', price: 10 }]])
let loads = 0
async function loadProduct(id: string): Promise<Product> {
  loads++
  const row = table.get(id)
  if (!row) throw new Error(`no product ${id}`)
  return row
}
// #endregion database

// #region use
// Two instances, as two processes of one service would have (here in one process, to see both at once).
const a = productCache('instance-a')
const b = productCache('instance-b')

const first = await a.getOrLoad('p1', () => loadProduct('p1')) // a miss: loads, fills a's L1 and Redis
const second = await b.getOrLoad('p1', () => loadProduct('p1')) // b finds a's value in Redis: no load
console.log(`a read ${first.price}, b read ${second.price}, loads: ${loads}`)

// A write: change the row, then invalidate. Every instance drops its copy; the next read loads the new row.
table.set('p1', { id: 'p1', price: 12 })
await a.invalidate('p1')
await waitUntil(() => !b.hasLocal('p1')) // the bus message reaches b within milliseconds
const third = await b.getOrLoad('p1', () => loadProduct('p1'))
console.log(`after the write b reads ${third.price}, loads: ${loads}`)

await Promise.all([a.close(), b.close()])
// #endregion use

// #region wait
async function waitUntil(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
// #endregion wait
