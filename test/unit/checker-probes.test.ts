import Fastify from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { createAdminRoutes, dashboardUrl } from '../../src/admin/index.js'
import { type Cache, createCache } from '../../src/cache/index.js'
import {
  cacheCopy,
  cacheProbe,
  createChecker,
  createConvergenceTracer,
  httpProbe,
} from '../../src/checker/index.js'
import { createMemoryBus, createMemoryTier } from '../../src/memory/index.js'
import { sleep, waitFor } from '../support/wait.js'

type Row = { id: number; price: number; version: number }
const TOKEN = 'probe-token-0123456789abcdef'
const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close()
})

/** Two instances of one cache sharing a memory L2 and bus, as the demo runs them in one process. */
async function instances() {
  const l2 = createMemoryTier()
  const bus = createMemoryBus()
  const make = (id: string) => createCache<Row>({ name: 'products', instanceId: id, l2, bus })
  const a = make('product-1')
  const b = make('product-2')
  closers.push(
    () => a.close(),
    () => b.close(),
  )
  // L1 is bypassed until the bus reports healthy.
  await waitFor(() => a.stats().l1.enabled && b.stats().l1.enabled, { what: 'a healthy bus' })
  return { a, b }
}
const db = new Map<string, Row>([['1', { id: 1, price: 10, version: 1 }]])
const load = (cache: Cache<Row>, key: string) =>
  cache.getOrLoad(key, async () => structuredClone(db.get(key)!))

describe('cacheCopy', () => {
  it('checks a real cache tier by inspection, and repairs by dropping the entry', async () => {
    const { a } = await instances()
    await load(a, '1')
    db.set('1', { id: 1, price: 20, version: 2 }) // a write whose invalidation was lost
    const checker = createChecker({
      comparators: [
        {
          name: 'products',
          sample: async () => ['1'],
          source: async (key) => ({ version: db.get(key)!.version, value: db.get(key)! }),
          copies: [cacheCopy('l1', a, 'l1', (v) => v.version), cacheCopy('l2', a, 'l2', (v) => v.version)],
        },
      ],
    })
    const report = await checker.run()
    expect(
      report.divergences.map((d) => `${d.copy}:${d.kind}:${d.sourceVersion}/${d.copyVersion}:${d.repaired}`),
    ).toEqual(['l1:version:2/1:true', 'l2:version:2/1:true'])
    expect(await a.inspect('1')).toEqual({ l2: expect.objectContaining({ token: expect.any(String) }) })
    expect((await load(a, '1')).price).toBe(20)
    expect((await checker.run()).inconsistent).toBe(0)
  })
})

describe('cacheProbe and httpProbe', () => {
  it('follow a write into every instance, in process and through the internal inspect route', async () => {
    const { a, b } = await instances()
    await load(a, '1')
    await load(b, '1') // b's L1 holds version 1 now
    const app = Fastify()
    closers.push(() => app.close())
    createAdminRoutes(app, {
      token: TOKEN,
      sources: { inspect: (cache, key) => (cache === 'products' ? b.inspect(key) : undefined) },
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    expect((await fetch(`${base}/admin/internal/caches/products/1`)).status).toBe(401)
    expect(
      (await fetch(`${base}/admin/internal/caches/nope/1`, { headers: { authorization: `Bearer ${TOKEN}` } }))
        .status,
    ).toBe(404)

    const tracer = createConvergenceTracer({
      sampleRate: 1,
      timeout: '2s',
      probes: [
        cacheProbe('product-1:l1', a, 'l1', (v) => v.version),
        cacheProbe('l2', a, 'l2', (v) => v.version),
        httpProbe({
          path: 'product-2:l1',
          url: (key) => `${base}/admin/internal/caches/products/${encodeURIComponent(key)}`,
          headers: { authorization: `Bearer ${TOKEN}` },
          versionOf: (body) => (body as { l1?: { value: Row } }).l1?.value.version,
          absentIsConverged: true,
        }),
      ],
    })
    closers.push(async () => tracer.close())
    const version = db.get('1')!.version + 1
    db.set('1', { id: 1, price: 30, version })
    const trace = tracer.track('1', version)!
    await sleep(100)
    expect(tracer.stats().inFlight).toBe(1) // b's L1 still holds version 1 for now
    await a.invalidate('1') // drops a's L1, L2, and b's L1 over the bus
    const times = await trace
    expect(Object.keys(times).sort()).toEqual(['l2', 'product-1:l1', 'product-2:l1'])
    expect(times['product-2:l1']).toBeGreaterThanOrEqual(0.1)
    expect(tracer.violations()).toEqual([])
  })

  it('builds the dashboard URL the demo prints', () => {
    expect(dashboardUrl('http://127.0.0.1:3000/', 'a+b/c')).toBe(
      'http://127.0.0.1:3000/admin/?token=a%2Bb%2Fc',
    )
  })
})
