import { Cluster, Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache, redisBus, redisTier } from '../../src/cache/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

type Target = { url: string } | { nodes: { host: string; port: number }[] }

describe.each([
  ['standalone', () => ({ url: sharedServices().redis.url }) as Target],
  ['cluster', () => ({ nodes: sharedServices().redisCluster.nodes }) as Target],
])('cache on real Redis (%s)', (_name, target) => {
  const open: Cache<unknown>[] = []
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()))
  })

  /** `count` instances of one cache, each with its own connections, as separate processes would have. */
  async function instances<T>(count: number, extra: Partial<CacheOptions> = {}): Promise<Cache<T>[]> {
    const prefix = `${uniqueName('cache')}:`
    const name = 'products'
    const made = Array.from({ length: count }, (_, i) =>
      createCache<T>({
        name,
        instanceId: `i${i}`,
        l2: redisTier({ ...target(), prefix }),
        bus: redisBus({ ...target(), prefix: `${prefix}bus:`, heartbeatInterval: '100ms' }),
        jitter: 0,
        ...extra,
      }),
    )
    open.push(...(made as Cache<unknown>[]))
    await waitFor(() => made.every((c) => c.stats().bus.healthy), { what: 'buses healthy' })
    return made
  }

  it('runs one loader for 1,000 concurrent cold reads over 4 instances, handing the value over', async () => {
    // A generous L2 timeout: on a loaded machine a timed-out acquire would (rightly) load without the lease.
    const caches = await instances<{ n: number }>(4, { l2Timeout: '2s' })
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(50)
      return { n: 1 }
    }
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => caches[i % 4]!.getOrLoad('cold', loader)),
    )
    expect(calls).toBe(1)
    expect(results.every((r) => r.n === 1)).toBe(true)
    expect(caches.reduce((n, c) => n + c.stats().lease.handoffs, 0)).toBe(3)
    expect(caches.map((c) => c.stats().bus.messagesOut)).toEqual([0, 0, 0, 0]) // fills never broadcast
  })

  it('C1 on the writer and C2 on the others: invalidate reaches every L1 within the bus delay', async () => {
    const caches = await instances<number>(3)
    let db = 1
    const loader = async () => db
    for (const c of caches) expect(await c.getOrLoad('k', loader)).toBe(1)
    expect(caches.every((c) => c.hasLocal('k'))).toBe(true)
    db = 2
    const t0 = Date.now()
    await caches[0]!.invalidate('k')
    expect(await caches[0]!.getOrLoad('k', loader)).toBe(2)
    await waitFor(() => !caches[1]!.hasLocal('k') && !caches[2]!.hasLocal('k'), {
      timeoutMs: 1000,
      intervalMs: 1,
      what: 'remote L1 dropped',
    })
    expect(Date.now() - t0).toBeLessThan(1000) // loose: a shared CI machine; the bench measures the real delay
    expect(await caches[1]!.getOrLoad('k', loader)).toBe(2)
    expect(caches[1]!.stats().bus.lagMs.p99).toBeLessThan(1000)
  })

  it('fences a fill that loaded before a concurrent invalidation (C3) and records the LSN (C4)', async () => {
    const [a, b] = await instances<string>(2)
    let db = 'old'
    const seen: (string | undefined)[] = []
    let hasRead!: () => void
    const readDone = new Promise<void>((resolve) => (hasRead = resolve))
    const slow = a!.getOrLoad('p', async (ctx) => {
      seen.push(ctx.minLsn)
      const read = db
      hasRead()
      await sleep(80)
      return read
    })
    await readDone
    db = 'new'
    await b!.invalidate('p', { lsn: '0/3000060' })
    expect(await slow).toBe('old')
    const inspected = await a!.inspect('p')
    expect(inspected.l1).toBeUndefined()
    expect(inspected.l2?.value).toBeUndefined()
    expect(inspected.l2?.lsn).toBe('0/3000060')
    expect(a!.stats().fencingRejected.l2).toBe(1)
    expect(await a!.getOrLoad('p', async (ctx) => `${db}@${ctx.minLsn}`)).toBe('new@0/3000060')
    expect(seen).toEqual([undefined])
  })

  it('works on a client the caller owns and leaves it open on close', async () => {
    const t = target()
    const client = 'url' in t ? new Redis(t.url) : new Cluster(t.nodes)
    try {
      const prefix = `${uniqueName('owned')}:`
      const make = (id: string) =>
        createCache<number>({
          name: 'owned',
          instanceId: id,
          l2: redisTier({ client, prefix }),
          bus: redisBus({ client, prefix: `${prefix}bus:`, heartbeatInterval: '100ms' }),
        })
      const [a, b] = [make('a'), make('b')]
      await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
      expect(await a.getOrLoad('k', async () => 1)).toBe(1)
      expect(await b.getOrLoad('k', async () => 2)).toBe(1)
      await a.invalidate('k')
      await waitFor(() => !b.hasLocal('k'), { timeoutMs: 1000, what: 'dropped' })
      await Promise.all([a.close(), b.close()])
      expect(await client.ping()).toBe('PONG')
    } finally {
      client.disconnect()
    }
  })

  it('set, invalidateTag and clear reach every instance', async () => {
    const [a, b] = await instances<string>(2, { serializer: 'msgpack' })
    await b!.getOrLoad('x', async () => 'x0', { tags: ['cat'] })
    await b!.getOrLoad('y', async () => 'y0', { tags: ['cat'] })
    await b!.getOrLoad('z', async () => 'z0')
    await a!.set('z', 'z1')
    await waitFor(() => !b!.hasLocal('z'), { timeoutMs: 1000, intervalMs: 1, what: 'z dropped' })
    expect(await b!.getOrLoad('z', async () => 'never')).toBe('z1')
    await a!.getOrLoad('x', async () => 'never') // a's L1 from L2: it does not know the tag
    await a!.invalidateTag('cat')
    expect(a!.hasLocal('x')).toBe(false)
    await waitFor(() => !b!.hasLocal('x') && !b!.hasLocal('y'), { timeoutMs: 1000, what: 'tag dropped' })
    expect(b!.hasLocal('z')).toBe(true)
    expect(await b!.getOrLoad('x', async () => 'x1')).toBe('x1')
    await a!.clear()
    await waitFor(() => !b!.hasLocal('z'), { timeoutMs: 1000, what: 'all dropped' })
    expect((await a!.inspect('z')).l2?.value).toBeUndefined()
  })
})
