/**
 * The admin guide (docs/guides/admin.md): the status API, /metrics and the dashboard on node:http, the same
 * handler Express and Nest mount. Embedded: no servers.
 * Run: node --import tsx --conditions=source docs/snippets/guides/admin/node-http.ts
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { type ConsistencyStatus, createAdminHandler, dashboardUrl } from 'concord/admin'
import { createCache } from 'concord/cache'
import { createMemoryBus, createMemoryTier } from 'concord/memory'
import { registerCacheMetrics } from 'concord/prometheus'
import { Registry } from 'prom-client'

const l2 = createMemoryTier()
const bus = createMemoryBus()
const instances = [1, 2].map((n) =>
  createCache<number>({ name: 'products', instanceId: `product-${n}`, l2, bus }),
)
await instances[0]!.getOrLoad('product:1', () => 100)
await instances[1]!.getOrLoad('product:1', () => 100) // an L2 hit

// #region handler
const registry = new Registry() // nothing registers itself: concord registers where you say
for (const cache of instances) registerCacheMetrics(registry, cache) // concord_cache_*
const token = process.env.ADMIN_TOKEN ?? randomBytes(24).toString('base64url')
const admin = createAdminHandler({
  token, // Authorization: Bearer <token>, or ?token= (the dashboard link)
  registry,
  metricsAuth: 'token', // 'open' serves /metrics to anyone who reaches the port
  sources: {
    caches: () => instances.map((cache) => cache.stats()),
    // replication: () => shards.health(), outbox: () => outboxAdmin.status(), sagas: () => sagaAdmin.counts(),
    // broker: () => broker.health(), checker, convergence: tracer
  },
})
const server = http.createServer(admin) // Express or Nest (express platform): app.use(admin) or app.use('/ops', admin)
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const dashboard = dashboardUrl(base, token) // the page's link, token included: give it to operators only
console.log(`dashboard at ${new URL(dashboard).pathname}`)
// #endregion handler

// #region status
const headers = { authorization: `Bearer ${token}` }
const status = (await (
  await fetch(`${base}/admin/consistency/status`, { headers })
).json()) as ConsistencyStatus
console.log(`status: l2 hit rate ${status.l2HitRate}, bus healthy ${status.bus?.healthy}`)
const metrics = await (await fetch(`${base}/metrics`, { headers })).text()
console.log(
  `metrics: ${metrics.split('\n').filter((l) => l.startsWith('concord_cache_hits_total')).length} hit series`,
)
console.log(`without the token: ${(await fetch(`${base}/metrics`)).status}`)
// #endregion status

server.close()
await Promise.all(instances.map((cache) => cache.close()))
