import Fastify, { type FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ConsistencyStatus, createAdminRoutes } from '../../src/admin/index.js'
import { type Cache, createCache } from '../../src/cache/index.js'
import { registerCacheMetrics } from '../../src/prometheus/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import { type RedisServer, startRedis, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// The status follows a real fault: Redis killed under a cache (L2 circuit opens, the bus goes unhealthy and
// L1 is bypassed), then restarted (both recover). Killing a server is a fault, so this file starts its own.
const TOKEN = 'faults-admin-token-0123456789'
let redis: RedisServer
let cache: Cache<{ id: number }>
let app: FastifyInstance
const registry = new Registry()
const auth = { authorization: `Bearer ${TOKEN}` }

beforeAll(async () => {
  redis = await startRedis()
  const prefix = `${uniqueName('adm')}:`
  cache = createCache({
    name: 'products',
    instanceId: 'product-1',
    l2: createRedisTier({ url: redis.url, prefix }),
    bus: createRedisBus({ url: redis.url, prefix, heartbeatInterval: '100ms' }),
    l2Timeout: '100ms',
    breaker: { failures: 3, resetAfter: '300ms' },
  })
  registerCacheMetrics(registry, cache)
  app = Fastify({ logger: false })
  createAdminRoutes(app, { token: TOKEN, registry, sources: { caches: () => [cache.stats()] } })
})

afterAll(async () => {
  await app?.close()
  await cache?.close()
  await redis?.close()
})

const status = async (): Promise<ConsistencyStatus> =>
  (await app.inject({ method: 'GET', url: '/admin/consistency/status', headers: auth })).json()
const metrics = async () => (await app.inject({ method: 'GET', url: '/metrics', headers: auth })).body
const read = (id: number) => cache.getOrLoad(String(id), async () => ({ id }))

describe('status under a Redis outage', () => {
  it('shows the L2 circuit and the bus going down and coming back', async () => {
    await waitFor(async () => (await status()).bus?.healthy, { what: 'a healthy bus' })
    for (let id = 1; id <= 5; id++) await read(id)
    for (let id = 1; id <= 5; id++) await read(id)
    let s = await status()
    expect(s.caches?.[0]).toMatchObject({ instance: 'product-1', l2: { circuit: 'closed' } })
    expect(s.l1HitRate).toBeGreaterThan(0)
    expect(await metrics()).toContain('concord_bus_healthy 1')

    await redis.kill()
    // Reads still answer (from the loader) while L2 fails; the breaker opens after 3 failures.
    for (let id = 10; id <= 15; id++) expect(await read(id)).toEqual({ id })
    s = await waitFor(
      async () => {
        const now = await status()
        return now.bus?.healthy === false && now.caches?.[0]?.l2.circuit !== 'closed' ? now : undefined
      },
      { what: 'the outage in the status', timeoutMs: 5000 },
    )
    expect(s.caches?.[0]?.l1.enabled).toBe(false) // L1 bypassed while the bus is down (C2)
    expect(s.bus?.members[0]).toMatchObject({ instance: 'product-1', healthy: false })
    const down = await metrics()
    expect(down).toContain('concord_bus_healthy 0')
    expect(down).toMatch(
      /concord_cache_errors_total\{cache="products",instance="product-1",kind="l2"\} [1-9]/,
    )

    await redis.restart()
    let fresh = 100
    s = await waitFor(
      async () => {
        await read(fresh++) // an L1 miss, so the breaker gets its trial call to L2
        const now = await status()
        return now.bus?.healthy && now.caches?.[0]?.l2.circuit === 'closed' ? now : undefined
      },
      { what: 'recovery in the status', timeoutMs: 10_000, intervalMs: 100 },
    )
    expect(s.caches?.[0]?.l1.enabled).toBe(true)
    expect(await metrics()).toContain('concord_bus_healthy 1')
  })
})
