import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Browser } from 'playwright-core'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminRoutes } from '../../src/admin/index.js'
import { createCache } from '../../src/cache/index.js'
import { type Comparator, createChecker, createConvergenceTracer } from '../../src/checker/index.js'
import { checkerMetrics, tracerMetrics } from '../../src/prometheus/index.js'
import { launchChromium, saveDocsScreenshot } from '../support/browser.js'

// The dashboard in a real browser: live sources (a cache, an in-memory "database" with an outbox and a
// projection, the checker and the tracer), a write through them, and the page's numbers following it.
const token = randomBytes(24).toString('base64url')
let app: FastifyInstance
let browser: Browser
let baseUrl: string
let traffic: NodeJS.Timeout | undefined

const db = new Map<string, { version: number; value: { id: number; price: number } }>()
const search = new Map<string, { version: number; value: { id: number; price: number } }>()
const outbox: { key: string; at: number }[] = []
const cache = createCache<{ id: number; price: number }>({ name: 'products', l1: { maxEntries: 100 } })
const registry = new Registry()
const products: Comparator = {
  name: 'products',
  sample: async (n) => [...db.keys()].slice(0, n),
  source: async (key) => db.get(key),
  copies: [
    {
      name: 'search',
      required: true,
      read: async (key) => search.get(key),
      repair: async (key, src) =>
        void (src ? search.set(key, structuredClone(src as never)) : search.delete(key)),
    },
  ],
}
const checker = createChecker({ comparators: [products], budget: 50, metrics: checkerMetrics(registry) })
const tracer = createConvergenceTracer({
  sampleRate: 1,
  timeout: '3s',
  metrics: tracerMetrics(registry),
  probes: [{ path: 'search', read: async (key) => search.get(key)?.version }],
})

/** A write: the row, an outbox event; the projection follows 150 ms later (the event pipeline). */
function write(id: number, price: number, project = true) {
  const key = String(id)
  const version = (db.get(key)?.version ?? 0) + 1
  db.set(key, { version, value: { id, price } })
  outbox.push({ key, at: Date.now() })
  void cache.invalidate(key)
  void tracer.track(key, version)
  if (project) {
    setTimeout(() => {
      search.set(key, { version, value: { id, price } })
      outbox.shift()
    }, 150)
  }
}

beforeAll(async () => {
  for (let id = 1; id <= 20; id++) write(id, id * 10)
  app = Fastify({ logger: false })
  createAdminRoutes(app, {
    token,
    registry,
    pollInterval: '250ms',
    title: 'concord demo',
    sources: {
      replication: () => [
        {
          shard: 0,
          replica: 0,
          name: 'pg-replica-0',
          healthy: true,
          lagBytes: 0,
          lagSeconds: Math.random() * 0.05,
        },
        { shard: 1, replica: 0, name: 'pg-replica-1', healthy: true, lagBytes: 512, lagSeconds: 0.08 },
      ],
      caches: () => [cache.stats()],
      outbox: () => [
        {
          shard: 0,
          pending: outbox.length,
          retrying: 0,
          deadLetters: 0,
          oldestAgeMs: outbox[0] ? Date.now() - outbox[0].at : 0,
        },
      ],
      sagas: () => ({ RUNNING: 1, COMPENSATING: 0, COMPLETED: 42, COMPENSATED: 3, NEEDS_ATTENTION: 0 }),
      broker: () => ({ connected: true, subscriptions: 3 }),
      checker,
      convergence: tracer,
    },
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  baseUrl = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  browser = await launchChromium()
  // Steady cache traffic, as the demo's load generator makes, so the hit-rate chart has a line.
  let n = 0
  traffic = setInterval(() => {
    for (let i = 0; i < 20; i++) {
      const key = String((n++ % 25) + 1) // 21..25 are not in the db: misses every time
      void cache.getOrLoad(key, async () => db.get(key)?.value ?? { id: 0, price: 0 })
    }
  }, 50)
})

afterAll(async () => {
  clearInterval(traffic)
  tracer.close()
  await browser?.close()
  await app?.close()
  await cache.close()
})

describe('dashboard at /admin/', () => {
  it('is 401 without the token', async () => {
    const page = await browser.newPage()
    const response = await page.goto(`${baseUrl}/admin/`)
    expect(response?.status()).toBe(401)
    expect(await page.textContent('body')).toContain('401')
    await page.close()
  })

  it('loads with the token from its URL and shows numbers that follow a write, without a reload', async () => {
    const page = await browser.newPage({ viewport: { width: 1360, height: 1100 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    const response = await page.goto(`${baseUrl}/admin/?token=${token}`)
    expect(response?.status()).toBe(200)
    await page.locator('#live.up').waitFor({ timeout: 10_000 })
    const text = (selector: string) => () => page.textContent(selector)
    await expect.poll(text('[data-testid="outbox-pending"]'), { timeout: 10_000 }).toBe('0')
    expect(await page.textContent('#tile-outbox')).toBe('0')

    // A write whose projection never arrives: the backlog shows it, the checker finds and repairs it.
    let navigations = 0
    page.on('framenavigated', () => navigations++)
    write(7, 999, false)
    await expect.poll(text('#tile-outbox'), { timeout: 10_000 }).toBe('1')
    await expect.poll(text('[data-testid="outbox-pending"]'), { timeout: 10_000 }).toBe('1')
    await page.click('#run-check')
    await expect.poll(text('#tile-inconsistent'), { timeout: 10_000 }).toBe('1')
    expect(await page.textContent('#table-divergences')).toContain('search')
    expect(await page.textContent('#table-divergences')).toContain('version')
    expect(search.get('7')?.value.price).toBe(999) // repaired by re-projection

    // Live cache traffic draws the hit-rate line.
    await expect.poll(text('[data-testid="l1-hit-rate"]'), { timeout: 10_000 }).toMatch(/^\d+\.\d%$/)
    expect(await page.textContent('#table-sagas')).toContain('COMPLETED')
    expect(await page.textContent('#table-replicas')).toContain('pg-replica-1')
    await expect
      .poll(text('#staleness-extra'), { timeout: 10_000 })
      .toMatch(/within 1 s: \d+\.\d% · traced \d+/)
    expect(navigations).toBe(0) // updated in place
    expect(errors).toEqual([])

    await page.waitForTimeout(1500) // a few more points on each chart before the picture
    mkdirSync('test-artifacts', { recursive: true })
    await page.screenshot({ path: 'test-artifacts/dashboard.png', fullPage: true })
    await saveDocsScreenshot(page, 'dashboard')
    await page.close()
  })
})
