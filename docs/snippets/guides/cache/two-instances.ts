/**
 * The cache guide (docs/guides/cache.md): two instances of a service sharing a Redis L2 and bus.
 * Run: REDIS_URL=redis://127.0.0.1:6379 node --import tsx --conditions=source docs/snippets/guides/cache/two-instances.ts
 */
import { createCache } from 'concord/cache'
import { createRedisBus, createRedisTier } from 'concord/redis'

const url = process.env.REDIS_URL ?? ''
if (!url) throw new Error('set REDIS_URL')
// One namespace per run, so the snippet never meets keys of another run on the same server.
const prefix = `guide-${process.pid}:`

interface Product {
  id: number
  price: number
  version: number
}
// The source of truth: a row per product (a table in a real service).
const rows = new Map<number, Product>([[1, { id: 1, price: 100, version: 1 }]])
let loads = 0

// #region instance
function startInstance(instanceId: string) {
  return createCache<Product>({
    name: 'products', // prefixes the keys in L2 and names the bus channel
    instanceId,
    l2: createRedisTier({ url, prefix }),
    bus: createRedisBus({ url, prefix: `${prefix}bus:` }),
    ttl: '5m', // freshness of a value in L1 and L2
    l1: { maxEntries: 10_000, ttl: '30s' }, // a shorter L1 TTL bounds an instance's memory, not staleness
    grace: '1h', // serve the last value up to 1 h past its TTL when the loader fails
    onError: (error) => console.error('cache fault absorbed:', error), // reads never throw cache faults
  })
}
// #endregion instance

const a = startInstance('product-1')
const b = startInstance('product-2')

// #region read
const load = async (id: number) => {
  loads++
  return structuredClone(rows.get(id)!)
}
const seen = await a.getOrLoad('product:1', () => load(1), { tags: ['catalog'] })
const fromL2 = await b.getOrLoad('product:1', () => load(1)) // b's L1 misses, L2 has a's fill
console.log(`a read v${seen.version}, b read v${fromL2.version}, loads ${loads}`)
// #endregion read

// #region write
// The write: commit the row, then invalidate. `invalidate` drops the key from a's L1 and from L2 before it
// resolves (C1), then every other instance's L1 over the bus (C2). With a database, pass the commit LSN
// (`{ lsn }`) so the next fill reads a replica at or past it (C4).
rows.set(1, { id: 1, price: 90, version: 2 })
await a.invalidate('product:1')
console.log(`a after its write: v${(await a.getOrLoad('product:1', () => load(1))).version}`)
// b's L1 copy goes when a's bus message arrives (the bus delay: about a millisecond).
const deadline = Date.now() + 5000
while (b.hasLocal('product:1')) {
  if (Date.now() > deadline) throw new Error('b still serves v1 after 5 s')
  await new Promise((resolve) => setTimeout(resolve, 5))
}
console.log(`b after the bus message: v${(await b.getOrLoad('product:1', () => load(1))).version}`)
// #endregion write

// #region stampede
// 100 concurrent cold reads over both instances: one load. In a process, reads of a key share one flight;
// across instances, the one holding the L2 lease loads and hands its value to the others.
await a.invalidate('product:2')
rows.set(2, { id: 2, price: 5, version: 1 })
const before = loads
const slowLoad = async () => {
  await new Promise((resolve) => setTimeout(resolve, 50))
  return load(2)
}
await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).getOrLoad('product:2', slowLoad)))
console.log(`100 cold reads, loads: ${loads - before}`)
// #endregion stampede

// #region tags
await a.invalidateTag('catalog') // every key stored with the tag, on every tier and instance
console.log(`after invalidateTag, a holds product:1 locally: ${a.hasLocal('product:1')}`)
// #endregion tags

// #region grace
const shortLived = createCache<Product>({ name: 'grace-demo', ttl: 50, grace: '1m', jitter: 0 })
await shortLived.getOrLoad('product:1', () => load(1))
await new Promise((resolve) => setTimeout(resolve, 100)) // past the TTL
const served = await shortLived.getOrLoad('product:1', () => {
  throw new Error('database down')
})
console.log(`loader failed, grace served v${served.version}; graceServed ${shortLived.stats().graceServed}`)
await shortLived.close()
// #endregion grace

// #region stats
await a.getOrLoad('product:2', slowLoad) // an L1 hit
const stats = a.stats()
console.log(
  `a: l1 hit rate ${stats.l1.hitRate.toFixed(2)}, l2 circuit ${stats.l2.circuit}, bus healthy ${stats.bus.healthy}`,
)
// #endregion stats

// #region redis-down
// Redis unreachable (here: nothing listens on the port). Reads still answer, from the loader: each L2 call is
// bounded by `l2Timeout`, and after `breaker.failures` failures in a row the circuit opens and L2 is skipped.
const faults: unknown[] = []
const offline = createCache<Product>({
  name: 'products',
  l2: createRedisTier({ url: 'redis://127.0.0.1:1', prefix }),
  bus: createRedisBus({ url: 'redis://127.0.0.1:1', prefix: `${prefix}bus:` }),
  l2Timeout: '100ms',
  breaker: { failures: 3, resetAfter: '2s' },
  onError: (error) => faults.push(error),
})
for (let i = 0; i < 5; i++) await offline.getOrLoad('product:1', () => load(1))
const health = offline.stats()
console.log(
  `Redis down: 5 reads answered, circuit ${health.l2.circuit}, L1 in use ${health.l1.enabled}, faults absorbed ${faults.length > 0}`,
)
await offline.close()
// #endregion redis-down

await Promise.all([a.close(), b.close()])
