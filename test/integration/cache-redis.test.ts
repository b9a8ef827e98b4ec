import { Cluster, Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../../src/cache/index.js'
import { msgpackSerializer } from '../../src/msgpack/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
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
        l2: createRedisTier({ ...target(), prefix }),
        bus: createRedisBus({ ...target(), prefix: `${prefix}bus:`, heartbeatInterval: '100ms' }),
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

  it("gives each of many concurrent L2 hits its own key's value (reads of a tick batched on standalone)", async () => {
    const [writer, reader] = await instances<{ key: string }>(2, { l1: false })
    const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
    for (const key of keys) await writer!.getOrLoad(key, async () => ({ key }))
    const values = await Promise.all(
      keys.map((key) => reader!.getOrLoad(key, async () => ({ key: 'loaded' }))),
    )
    expect(values.map((v) => v.key)).toEqual(keys)
    expect(reader!.stats()).toMatchObject({ loads: 0, l2: { hits: 300 } })
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

  it('sends early copies from the L2 script (one round trip) and keeps the sequence free of gaps', async () => {
    const caches = await instances<number>(3)
    let db = 0
    const loader = async () => db
    for (let i = 0; i < 30; i++) {
      for (const c of caches) expect(await c.getOrLoad('k', loader)).toBe(db)
      db++
      const writer = caches[i % 3]!
      if (i % 2 === 0) await writer.invalidate('k')
      else await writer.set('k', db)
      await waitFor(() => caches.every((c) => c === writer || !c.hasLocal('k')), {
        timeoutMs: 1000,
        intervalMs: 1,
        what: 'remote L1 dropped',
      })
      for (const c of caches) expect(await c.getOrLoad('k', loader)).toBe(db)
    }
    // A burst: the writes overlap, so the batched sequenced messages carry them (and some early copies).
    await Promise.all(Array.from({ length: 100 }, (_, i) => caches[i % 3]!.invalidate(`burst${i % 7}`)))
    // Every sequenced batch the others sent has arrived: each was checked against its sender's sequence.
    const sent = () => caches.map((c) => c.stats().bus.batchesOut)
    await waitFor(
      () =>
        caches.every(
          (c, i) => c.stats().bus.messagesIn === sent().reduce((n, out, j) => (j === i ? n : n + out), 0),
        ),
      { timeoutMs: 5000, what: 'every batch delivered' },
    )
    for (const c of caches) {
      const bus = c.stats().bus
      expect(bus.gaps).toBe(0)
      expect(bus.earlyIn).toBeGreaterThanOrEqual(15)
      expect(bus.messagesIn).toBeGreaterThanOrEqual(20) // the sequenced messages still come
    }
  })

  it('sends no early copies when the tier and the bus are not known to share a server', async () => {
    const t = target()
    // The same servers under another name: `sameRedis` compares host:port as configured.
    const other: Target =
      'url' in t
        ? { url: t.url.replace('127.0.0.1', 'localhost') }
        : { nodes: t.nodes.map((n) => ({ ...n, host: 'localhost' })) }
    const prefix = `${uniqueName('mixed')}:`
    const make = (id: string, l2: CacheOptions['l2']) =>
      createCache<number>({
        name: 'mixed',
        instanceId: id,
        l2,
        bus: createRedisBus({ ...other, prefix: `${prefix}bus:`, heartbeatInterval: '100ms' }),
      })
    const a = make('a', createRedisTier({ ...t, prefix }))
    const b = make('b', createRedisTier({ ...t, prefix }))
    open.push(a as Cache<unknown>, b as Cache<unknown>)
    await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
    let db = 1
    expect(await b.getOrLoad('k', async () => db)).toBe(1)
    db = 2
    await a.invalidate('k')
    await waitFor(() => !b.hasLocal('k'), { timeoutMs: 1000, intervalMs: 1, what: 'dropped' })
    expect(b.stats().bus).toMatchObject({ earlyIn: 0, messagesIn: 1, gaps: 0 })
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

  it('a bus message lost on the way: the gap is found, L1 flushed, and no read after the bound is stale', async () => {
    const t = target()
    const prefix = `${uniqueName('lost')}:`
    const bus = `${prefix}bus:`
    // B's own client: its subscriber connection (a duplicate) swallows every message naming the victim key
    // while `dropping`, both the early copy and the sequenced one, as a lossy network would.
    const client = 'url' in t ? new Redis(t.url) : new Cluster(t.nodes)
    let dropping = false
    const dropped: string[] = []
    const duplicate = client.duplicate.bind(client) as (...args: unknown[]) => Redis | Cluster
    ;(client as { duplicate: (...args: unknown[]) => Redis | Cluster }).duplicate = (...args) => {
      const connection = duplicate(...args)
      const emit = connection.emit.bind(connection)
      connection.emit = (event: string | symbol, ...rest: unknown[]) => {
        if (dropping && event === 'message' && String(rest[1]).includes('"victim"')) {
          dropped.push(String(rest[1]))
          if (!String(rest[1]).includes('"u":1')) dropping = false // the sequenced one: done
          return true
        }
        return emit(event, ...rest)
      }
      return connection
    }
    const HEARTBEAT = 100
    const a = createCache<number>({
      name: 'lost',
      instanceId: 'a',
      l2: createRedisTier({ ...t, prefix }),
      bus: createRedisBus({ ...t, prefix: bus, heartbeatInterval: HEARTBEAT }),
      jitter: 0,
    })
    const b = createCache<number>({
      name: 'lost',
      instanceId: 'b',
      l2: createRedisTier({ client, prefix }),
      bus: createRedisBus({ client, prefix: bus, heartbeatInterval: HEARTBEAT }),
      jitter: 0,
    })
    open.push(a as Cache<unknown>, b as Cache<unknown>)
    try {
      await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
      let db = 1
      const loader = async () => db
      for (const key of ['victim', 'bystander']) expect(await b.getOrLoad(key, loader)).toBe(1)
      expect(b.hasLocal('victim') && b.hasLocal('bystander')).toBe(true)

      dropping = true
      db = 2
      await a.invalidate('victim')
      const acked = Date.now()
      // A's next heartbeat carries its sequence number: B sees the hole, and flushes its whole L1.
      // The heartbeat, its delivery, and scheduling on a shared machine; without gap detection B would serve the
      // old value until the TTL (minutes), so the bound still tells the two apart.
      const bound = 3 * HEARTBEAT + 1_500
      const stale: string[] = []
      let reads = 0
      await waitFor(
        async () => {
          const started = Date.now()
          const value = await b.getOrLoad('victim', loader)
          reads++
          if (value !== 2 && started > acked + bound) stale.push(`v${value} at +${started - acked} ms`)
          return b.stats().bus.gaps >= 1 && value === 2
        },
        { timeoutMs: 10_000, intervalMs: 1, what: 'the gap found and the new value read' },
      )
      expect(dropped.some((m) => !m.includes('"u":1'))).toBe(true) // the sequenced message was lost
      expect(b.stats().bus.messagesIn).toBe(0) // and nothing else told B about the key
      expect(b.stats().bus.gaps).toBe(1)
      expect(b.hasLocal('bystander')).toBe(false) // flushed: no message named it
      expect(stale).toEqual([])
      expect(reads).toBeGreaterThan(0)
      // Afterwards: healthy, L1 in use again, and still the new value.
      await waitFor(() => b.stats().bus.healthy, { what: 'healthy again' })
      expect(await b.getOrLoad('victim', loader)).toBe(2)
      expect(await b.getOrLoad('victim', async () => -1)).toBe(2)
    } finally {
      await Promise.all([a.close(), b.close()])
      client.disconnect()
    }
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
          l2: createRedisTier({ client, prefix }),
          bus: createRedisBus({ client, prefix: `${prefix}bus:`, heartbeatInterval: '100ms' }),
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
    const [a, b] = await instances<string>(2, { serializer: msgpackSerializer() })
    await b!.getOrLoad('x', async () => 'x0', { tags: ['cat'] })
    await b!.getOrLoad('y', async () => 'y0', { tags: ['cat'] })
    await b!.getOrLoad('z', async () => 'z0')
    await a!.set('z', 'z1')
    await waitFor(() => !b!.hasLocal('z'), { timeoutMs: 1000, intervalMs: 1, what: 'z dropped' })
    // The early copy dropped z; its sequenced message (which drops it again) may still be on its way.
    await waitFor(() => b!.stats().bus.messagesIn >= 1, { timeoutMs: 1000, intervalMs: 1, what: 'sequenced' })
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

/**
 * Until MONITOR has shown everything run before now: a marker command sent last is logged after all of them
 * (MONITOR streams commands in the order the server runs them).
 */
async function monitored<E>(url: string, log: E[], args: (entry: E) => string[]): Promise<void> {
  const marker = `monitor-marker-${uniqueName('m')}`
  const client = new Redis(url)
  try {
    await client.echo(marker)
    await waitFor(() => log.some((entry) => args(entry).includes(marker)), { what: 'the MONITOR marker' })
  } finally {
    client.disconnect()
  }
  log.splice(
    log.findIndex((entry) => args(entry).includes(marker)),
    1,
  )
}

describe('L2 reads on standalone Redis', () => {
  it('go out as one GET and one MGET per tick, not a GET per read', async () => {
    const url = sharedServices().redis.url
    const prefix = `${uniqueName('batch')}:`
    const cache = createCache<number>({
      name: 'b',
      instanceId: 'b',
      l1: false,
      l2: createRedisTier({ url, prefix }),
    })
    const watcher = new Redis(url)
    try {
      for (let i = 0; i < 40; i++) await cache.getOrLoad(`k${i}`, async () => i)
      const monitor = await watcher.monitor()
      const log: string[][] = []
      monitor.on('monitor', (_time: string, args: unknown[]) => log.push(args.map(String)))
      const values = await Promise.all(
        Array.from({ length: 40 }, (_, i) => cache.getOrLoad(`k${i}`, async () => -1)),
      )
      await monitored(url, log, (args) => args)
      monitor.disconnect()
      expect(values).toEqual(Array.from({ length: 40 }, (_, i) => i))
      const ours = log.filter((args) => args.slice(1).some((a) => a.startsWith(prefix)))
      expect(ours.map((args) => [args[0]!.toLowerCase(), args.length - 1])).toEqual([
        ['get', 1],
        ['mget', 39],
      ])
    } finally {
      watcher.disconnect()
      await cache.close()
    }
  })
})

describe('early copies on standalone Redis', () => {
  it('are published by the invalidation script itself, after the key is changed, never before', async () => {
    const url = sharedServices().redis.url
    const prefix = `${uniqueName('early')}:`
    const make = (id: string) =>
      createCache<string>({
        name: 'e',
        instanceId: id,
        l2: createRedisTier({ url, prefix }),
        bus: createRedisBus({ url, prefix: `${prefix}bus:`, heartbeatInterval: '100ms' }),
      })
    const [a, b] = [make('a'), make('b')]
    const watcher = new Redis(url)
    try {
      await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
      expect(await b.getOrLoad('k', async () => 'v0')).toBe('v0')
      const monitor = await watcher.monitor()
      const log: { source: string; args: string[] }[] = []
      monitor.on('monitor', (_time: string, args: unknown[], source: string) =>
        log.push({ source, args: args.map(String) }),
      )
      await a.set('k', 'v1')
      await a.invalidate('k')
      await waitFor(() => b.stats().bus.earlyIn >= 2, { timeoutMs: 1000, what: 'early copies' })
      await monitored(url, log, (entry) => entry.args)
      monitor.disconnect()
      const value = `${prefix}{e:k}:v`
      const changes = log.flatMap((c, i) =>
        (c.args[0]!.toLowerCase() === 'set' || c.args[0]!.toLowerCase() === 'del') && c.args[1] === value
          ? [i]
          : [],
      )
      const early = log.flatMap((c, i) =>
        c.args[0]!.toLowerCase() === 'publish' && /"u":1/.test(c.args[2] ?? '') ? [i] : [],
      )
      expect(changes).toHaveLength(2)
      expect(early).toHaveLength(2)
      for (const [n, at] of early.entries()) {
        expect(log[at]!.source).toBe('lua') // inside the script: atomic with the change
        expect(JSON.parse(log[at]!.args[2]!).k).toEqual(['k'])
        expect(changes[n]).toBeLessThan(at) // and after it
        expect(n === 0 || changes[n]! > early[n - 1]!).toBe(true)
      }
    } finally {
      watcher.disconnect()
      await Promise.all([a.close(), b.close()])
    }
  })
})
