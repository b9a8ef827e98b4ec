/**
 * The checker guide (docs/guides/checker.md): a comparator over a cache, a planted divergence found, repaired
 * and verified (C8). Embedded: no servers.
 * Run: node --import tsx --conditions=source docs/snippets/guides/checker/find-and-repair.ts
 */
import { createCache } from 'concord/cache'
import { type Comparator, cacheCopy, createChecker } from 'concord/checker'
import { createMemoryBus, createMemoryTier } from 'concord/memory'
import { checkerMetrics } from 'concord/prometheus'
import { Registry } from 'prom-client'

interface Product {
  id: number
  price: number
  version: number
}
const table = new Map<string, Product>() // the source of truth (a table in a real service)
for (let id = 1; id <= 20; id++) table.set(`product:${id}`, { id, price: 10 * id, version: 1 })
const products = createCache<Product>({ name: 'products', l2: createMemoryTier(), bus: createMemoryBus() })
for (const key of table.keys()) await products.getOrLoad(key, () => table.get(key)!)

// A bug elsewhere (a write that skipped its invalidation) leaves product:7 at v1 in the cache, v2 in the table.
table.set('product:7', { id: 7, price: 75, version: 2 })

// #region comparator
const comparator: Comparator<Product> = {
  name: 'products',
  sample: async (n) => [...table.keys()].sort(() => Math.random() - 0.5).slice(0, n), // SQL: ORDER BY random()
  source: async (key) => {
    const row = table.get(key)
    return row && { version: row.version, value: row }
  },
  copies: [cacheCopy('l2', products, 'l2', (p) => p.version)], // repair: invalidate the key everywhere
}
const registry = new Registry()
const checker = createChecker({
  comparators: [comparator as Comparator<unknown>],
  budget: 50, // keys per run, shared by the comparators
  confirmAfter: '100ms', // a copy within its bound is re-read after this before it counts (shop: 2 s)
  metrics: checkerMetrics(registry), // concord_checker_* counters
  alert: { threshold: 0, hook: (report) => console.log(`alert: ${report.inconsistent} divergent`) },
})
// #endregion comparator

// #region run
const report = await checker.run() // or checker.start() with `schedule: { every: '30s' }`
for (const d of report.divergences) {
  console.log(
    `${d.copy} ${d.key}: ${d.kind}, source v${d.sourceVersion}, copy v${d.copyVersion}, repaired ${d.repaired}`,
  )
}
console.log(`checked ${report.checked}, inconsistent ${report.inconsistent}, repaired ${report.repaired}`)
// #endregion run

console.log(`product:7 now ${(await products.getOrLoad('product:7', () => table.get('product:7')!)).price}`)
await checker.close()
await products.close()
