import Fastify, { type FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { type AdminSources, createAdminRoutes, redactToken, tokenGuard } from '../../src/admin/index.js'
import { createChecker } from '../../src/checker/index.js'
import { checkerMetrics } from '../../src/prometheus/index.js'
import { sleep } from '../support/wait.js'

const TOKEN = 'test-token-0123456789abcdef'
let app: FastifyInstance | undefined
const apps: FastifyInstance[] = []

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

function start(
  sources: AdminSources = {},
  extra: { metricsAuth?: 'token' | 'open'; registry?: Registry } = {},
) {
  app = Fastify({ logger: false })
  apps.push(app)
  const handle = createAdminRoutes(app, { token: TOKEN, sources, ...extra })
  return { app, handle }
}
const bearer = { authorization: `Bearer ${TOKEN}` }

describe('tokenGuard', () => {
  it('accepts exactly the token, whatever the length of what is presented', () => {
    const matches = tokenGuard(TOKEN)
    expect(matches(TOKEN)).toBe(true)
    expect(matches(`${TOKEN}x`)).toBe(false)
    expect(matches(TOKEN.slice(0, -1))).toBe(false)
    expect(matches('')).toBe(false)
    expect(matches(undefined)).toBe(false)
  })

  it('redacts the token from URLs for logs', () => {
    expect(redactToken(`/admin/?token=${TOKEN}&x=1`)).toBe('/admin/?token=***&x=1')
    expect(redactToken(`/admin/?a=1&token=${TOKEN}`)).toBe('/admin/?a=1&token=***')
    expect(redactToken('/admin/')).toBe('/admin/')
  })
})

describe('createAdminRoutes', () => {
  it('answers 401 on every admin route without the token, or with a wrong one, and never echoes it', async () => {
    const { app } = start({})
    for (const [method, url] of [
      ['GET', '/admin/'],
      ['GET', '/admin/consistency/status'],
      ['POST', '/admin/consistency/check'],
      ['GET', '/admin/consistency/history'],
      ['GET', '/metrics'],
    ] as const) {
      const none = await app.inject({ method, url })
      expect(none.statusCode, `${method} ${url}`).toBe(401)
      expect(none.headers['www-authenticate']).toContain('Bearer')
      const wrong = await app.inject({ method, url: `${url}?token=wrong-token-guess-1234`, headers: {} })
      expect(wrong.statusCode).toBe(401)
      expect(wrong.body).not.toContain('wrong-token-guess')
      const wrongBearer = await app.inject({ method, url, headers: { authorization: `Bearer ${TOKEN}0` } })
      expect(wrongBearer.statusCode).toBe(401)
    }
    const page = await app.inject({ method: 'GET', url: '/admin/' })
    expect(page.headers['content-type']).toContain('text/html')
    expect(page.body).toContain('?token=')
  })

  it('serves the dashboard with ?token= or a bearer header, with a strict CSP and no-referrer', async () => {
    const { app } = start({ checker: createChecker({ comparators: [emptyComparator()] }) })
    const viaQuery = await app.inject({ method: 'GET', url: `/admin/?token=${TOKEN}` })
    expect(viaQuery.statusCode).toBe(200)
    expect(viaQuery.body).toContain('<svg id="chart-hits"')
    expect(viaQuery.body).toContain('Run check now')
    expect(viaQuery.body).not.toContain(TOKEN) // the page reads the token from its own URL
    expect(viaQuery.headers['content-security-policy']).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/)
    expect(viaQuery.headers['referrer-policy']).toBe('no-referrer')
    expect((await app.inject({ method: 'GET', url: '/admin/', headers: bearer })).statusCode).toBe(200)
    const redirect = await app.inject({ method: 'GET', url: `/admin?token=${TOKEN}` })
    expect(redirect.statusCode).toBe(302)
    expect(redirect.headers.location).toBe(`admin/?token=${TOKEN}`)
  })

  it('mounts on an app that ignores trailing slashes', async () => {
    app = Fastify({ routerOptions: { ignoreTrailingSlash: true } })
    apps.push(app)
    createAdminRoutes(app, { token: TOKEN, sources: {} })
    expect((await app.inject({ method: 'GET', url: '/admin', headers: bearer })).statusCode).toBe(200)
  })

  it('shapes the status from the sources, summing outbox and hit counts', async () => {
    const { app } = start({
      replication: () => [
        {
          shard: 0,
          replica: 0,
          name: 'r0',
          healthy: true,
          lagBytes: 0,
          lagSeconds: 0.02,
          replayLsn: '0/1',
        } as never,
        {
          shard: 1,
          replica: 0,
          name: 'r1',
          healthy: false,
          lagBytes: null,
          lagSeconds: null,
          lastError: 'down',
        },
      ],
      caches: () => [cacheStats('a', 8, 2, 1, 1, true), cacheStats('b', 2, 8, 1, 3, false)],
      outbox: async () => [
        { shard: 0, pending: 3, retrying: 1, deadLetters: 0, oldestAgeMs: 1200 },
        { shard: 1, pending: 4, retrying: 0, deadLetters: 2, oldestAgeMs: 300 },
      ],
      sagas: async () => ({ RUNNING: 1, COMPLETED: 10, NEEDS_ATTENTION: 0 }),
      broker: () => ({ connected: true, subscriptions: 2 }),
      custom: { shop: () => ({ products: 100 }) },
    })
    const response = await app.inject({ method: 'GET', url: '/admin/consistency/status', headers: bearer })
    expect(response.statusCode).toBe(200)
    const status = response.json()
    expect(status).toMatchObject({
      maxReplicationLagSeconds: 0.02,
      l1HitRate: 0.5,
      l2HitRate: 2 / 6,
      pendingOutboxEvents: 7,
      oldestOutboxAgeMs: 1200,
      deadLetters: 2,
      sagas: { RUNNING: 1, COMPLETED: 10, NEEDS_ATTENTION: 0 },
      bus: { healthy: false },
      broker: { connected: true, subscriptions: 2 },
      checker: null,
      lastInconsistencyCount: null,
      convergence: null,
      custom: { shop: { products: 100 } },
      errors: {},
    })
    expect(status.replicationLag).toEqual([
      { shard: 0, replica: 0, name: 'r0', healthy: true, lagBytes: 0, lagSeconds: 0.02 },
      {
        shard: 1,
        replica: 0,
        name: 'r1',
        healthy: false,
        lagBytes: null,
        lagSeconds: null,
        lastError: 'down',
      },
    ])
    expect(status.caches[1]).toEqual({
      name: 'products',
      instance: 'b',
      l1: { enabled: true, size: 0, hits: 2, misses: 8, hitRate: 0.2 },
      l2: { hits: 1, misses: 3, hitRate: 0.25, circuit: 'closed' },
    })
  })

  it('serves the other sections when one source throws or hangs, and says which failed', async () => {
    const failures: string[] = []
    app = Fastify()
    apps.push(app)
    createAdminRoutes(app, {
      token: TOKEN,
      sourceTimeout: '50ms',
      onError: (e) => failures.push(e.code),
      sources: {
        outbox: async () => {
          throw new Error('shard 1 unreachable')
        },
        sagas: () => new Promise(() => {}),
        broker: () => ({ connected: false, lastError: 'ECONNREFUSED' }),
      },
    })
    const status = (
      await app.inject({ method: 'GET', url: '/admin/consistency/status', headers: bearer })
    ).json()
    expect(status.outbox).toBeNull()
    expect(status.pendingOutboxEvents).toBeNull()
    expect(status.sagas).toBeNull()
    expect(status.broker).toEqual({ connected: false, lastError: 'ECONNREFUSED' })
    expect(status.errors).toEqual({
      outbox: 'status source outbox failed: shard 1 unreachable',
      sagas: 'status source sagas failed: no answer within 50 ms',
    })
    expect(failures).toEqual(['E_ADMIN_SOURCE_FAILED', 'E_ADMIN_SOURCE_FAILED'])
  })

  it('runs the checker on demand and shows its last result and history', async () => {
    const source = new Map([['1', { version: 2, value: 'new' }]])
    const copy = new Map([['1', { version: 1, value: 'old' }]])
    const checker = createChecker({
      comparators: [
        {
          name: 'things',
          sample: async () => ['1'],
          source: async (k) => source.get(k),
          copies: [{ name: 'l2', read: async (k) => copy.get(k), repair: async (k) => void copy.delete(k) }],
        },
      ],
    })
    const { app } = start({ checker })
    const bad = await app.inject({
      method: 'POST',
      url: '/admin/consistency/check',
      headers: bearer,
      payload: { budget: -1 },
    })
    expect(bad.statusCode).toBe(400)
    const run = await app.inject({
      method: 'POST',
      url: '/admin/consistency/check',
      headers: bearer,
      payload: { repair: false },
    })
    expect(run.statusCode).toBe(200)
    expect(run.json()).toMatchObject({ inconsistent: 1, repaired: 0 })
    await app.inject({ method: 'POST', url: '/admin/consistency/check', headers: bearer })
    const status = (
      await app.inject({ method: 'GET', url: '/admin/consistency/status', headers: bearer })
    ).json()
    expect(status.lastInconsistencyCount).toBe(1)
    expect(status.checker.last).toMatchObject({ id: 2, repaired: 1 })
    expect(status.checker.totals).toMatchObject({ runs: 2, inconsistent: 2, repaired: 1 })
    const history = (
      await app.inject({ method: 'GET', url: '/admin/consistency/history', headers: bearer })
    ).json()
    expect(history.map((r: { id: number }) => r.id)).toEqual([2, 1])
    const { app: bare } = start({})
    expect(
      (await bare.inject({ method: 'POST', url: '/admin/consistency/check', headers: bearer })).statusCode,
    ).toBe(404)
  })

  it('serves Prometheus text with the registry metrics and gauges read from the sources', async () => {
    const registry = new Registry()
    let pending = 5
    const { app } = start(
      {
        replication: () => [
          { shard: 0, replica: 0, name: 'r', healthy: true, lagBytes: 128, lagSeconds: 0.5 },
        ],
        outbox: () => [{ shard: 0, pending, deadLetters: 1, oldestAgeMs: 2500 }],
        sagas: () => ({ COMPLETED: 3, NEEDS_ATTENTION: 1 }),
        broker: () => ({ connected: true }),
        caches: () => [cacheStats('a', 1, 1, 1, 1, true)],
        changeFeeds: () => [
          {
            slot: 'shop_feed',
            state: 'streaming',
            slotExists: true,
            slotActive: true,
            lagBytes: 4096,
            lagSeconds: 1.5,
            pending: 2,
          },
        ],
      },
      { registry, metricsAuth: 'open' },
    )
    createChecker({ comparators: [emptyComparator()], metrics: checkerMetrics(registry) })
    const response = await app.inject({ method: 'GET', url: '/metrics' })
    expect(response.statusCode).toBe(200)
    expect(response.headers['content-type']).toContain('text/plain')
    const text = response.body
    expect(text).toContain('concord_replication_lag_seconds{shard="0",replica="0"} 0.5')
    expect(text).toContain('concord_replication_lag_bytes{shard="0",replica="0"} 128')
    expect(text).toContain('concord_outbox_pending{shard="0"} 5')
    expect(text).toContain('concord_change_feed_lag_bytes{slot="shop_feed"} 4096')
    expect(text).toContain('concord_change_feed_lag_seconds{slot="shop_feed"} 1.5')
    expect(text).toContain('concord_change_feed_streaming{slot="shop_feed"} 1')
    expect(text).toContain('concord_outbox_oldest_age_seconds{shard="0"} 2.5')
    expect(text).toContain('concord_outbox_dead_letters{shard="0"} 1')
    expect(text).toContain('concord_sagas{status="NEEDS_ATTENTION"} 1')
    expect(text).toContain('concord_broker_connected 1')
    expect(text).toContain('concord_bus_healthy 1')
    expect(text).toContain('concord_admin_source_up{source="outbox"} 1')
    expect(text).toContain('# TYPE concord_checker_checked_total counter')
    pending = 9
    await sleep(150) // one status per scrape, not reused by the next
    expect((await app.inject({ method: 'GET', url: '/metrics' })).body).toContain(
      'concord_outbox_pending{shard="0"} 9',
    )
  })

  it('rejects a short token', () => {
    expect(() => createAdminRoutes(Fastify(), { token: 'short', sources: {} })).toThrow(
      /token: at least 16 characters/,
    )
  })
})

function emptyComparator() {
  return { name: 'none', sample: async () => [], source: async () => undefined, copies: [] }
}

function cacheStats(
  instanceId: string,
  l1h: number,
  l1m: number,
  l2h: number,
  l2m: number,
  healthy: boolean,
) {
  const rate = (h: number, m: number) => (h + m === 0 ? 0 : h / (h + m))
  return {
    name: 'products',
    instanceId,
    l1: { enabled: true, size: 0, hits: l1h, misses: l1m, hitRate: rate(l1h, l1m) },
    l2: { hits: l2h, misses: l2m, hitRate: rate(l2h, l2m), circuit: 'closed' },
    bus: { healthy, disconnects: 0, gaps: 0, lagMs: { p50: 1, p99: 2, max: 3 } },
  }
}
