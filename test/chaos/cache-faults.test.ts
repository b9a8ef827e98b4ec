import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../../src/cache/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import { type RedisServer, startRedis } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

/**
 * Faults on a private Redis while instance A writes (database version + 1, then invalidate) and instance B reads
 * in a loop. The promise checked after each: no read on B that began more than BOUND after a write was
 * acknowledged returns an older version (C2), and A never reads older than its own acknowledged write (C1).
 */
const HEARTBEAT = 100
const BOUND = 3 * HEARTBEAT + 200 // heartbeat timeout plus scheduling slack on a shared machine

let redis: RedisServer
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  await redis.close()
})

const open: Cache<unknown>[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

function instance(id: string, extra: Partial<CacheOptions> = {}): Cache<number> {
  const cache = createCache<number>({
    name: 'chaos',
    instanceId: id,
    l2: createRedisTier({ url: redis.url, prefix: 'chaos:' }),
    bus: createRedisBus({ url: redis.url, prefix: 'chaos:bus:', heartbeatInterval: HEARTBEAT }),
    l2Timeout: '100ms',
    breaker: { failures: 3, resetAfter: '200ms' },
    lease: { ttl: '2s', wait: '300ms' },
    jitter: 0,
    ...extra,
  })
  open.push(cache as Cache<unknown>)
  return cache
}

/** Runs writer A and reader B around `fault`, and returns the violations found. */
async function underFault(a: Cache<number>, b: Cache<number>, fault: () => Promise<void>): Promise<string[]> {
  let db = 0
  const acks: { version: number; at: number }[] = []
  const violations: string[] = []
  let stop = false
  const loader = async () => db
  const reader = (async () => {
    let reads = 0
    while (!stop) {
      const started = Date.now()
      const version = await b.getOrLoad('item', loader)
      reads++
      const owed = acks.filter((w) => w.at + BOUND < started).at(-1)
      if (owed && version < owed.version) {
        violations.push(
          `B read v${version} at +${started - owed.at} ms after v${owed.version} was acknowledged`,
        )
      }
      await sleep(reads % 10 === 0 ? 1 : 0)
    }
  })()
  const writer = (async () => {
    while (!stop) {
      db++
      const version = db
      try {
        await a.invalidate('item')
        acks.push({ version, at: Date.now() })
        const own = await a.getOrLoad('item', loader)
        if (own < version) violations.push(`C1: A read v${own} after its write v${version}`)
      } catch {
        // not acknowledged (Redis unreachable): the outbox relay would retry it; no promise made
      }
      await sleep(15)
    }
  })()
  await sleep(300)
  await fault()
  await sleep(300)
  stop = true
  await Promise.all([reader, writer])
  expect(acks.length).toBeGreaterThan(5)
  return violations
}

describe('cache under Redis faults (C1, C2, C3)', () => {
  it('killing the subscriber connections mid-stream bypasses L1 until the bus is healthy again', async () => {
    const a = instance('a')
    const b = instance('b')
    await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
    const violations = await underFault(a, b, async () => {
      expect(await redis.clientKill({ type: 'pubsub' })).toBeGreaterThanOrEqual(2)
      await waitFor(() => b.stats().bus.bypasses >= 1, { timeoutMs: 2000, what: 'bypass' })
      await waitFor(() => b.stats().bus.healthy, { timeoutMs: 5000, what: 'healthy again' })
    })
    expect(violations).toEqual([])
    expect(b.stats().bus.disconnects).toBeGreaterThanOrEqual(1)
    expect(b.stats().l1.enabled).toBe(true)
  })

  it('a restart that loses the data: loads in flight cannot fill, and the cache recovers', async () => {
    const a = instance('a')
    const b = instance('b')
    await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
    // A load that read its token before the restart must not fill after it.
    let release!: () => void
    const inFlight = b.getOrLoad('slow', () => new Promise<number>((r) => (release = () => r(-1))))
    await sleep(20)
    const violations = await underFault(a, b, async () => {
      await redis.restart()
      release()
      expect(await inFlight).toBe(-1)
      await waitFor(() => b.stats().bus.healthy && a.stats().bus.healthy, {
        timeoutMs: 8000,
        what: 'healthy',
      })
    })
    expect(violations).toEqual([])
    expect((await b.inspect('slow')).l2?.value).toBeUndefined()
    expect(await b.getOrLoad('after', async () => 7)).toBe(7)
    expect((await a.inspect('after')).l2?.value).toBe(7)
  }, 30_000)

  it('Redis down at start: callers get loader data fast; the cache picks Redis up when it comes', async () => {
    await redis.stop()
    const errors: unknown[] = []
    const a = instance('a', { onError: (e) => errors.push(e) })
    const t0 = Date.now()
    for (let i = 0; i < 20; i++) expect(await a.getOrLoad('k', async () => i)).toBe(i)
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(a.stats().l2.circuit).toBe('open')
    expect(a.stats().bus.healthy).toBe(false)
    expect(a.hasLocal('k')).toBe(false) // no L1 without a bus
    await redis.restart()
    await waitFor(() => a.stats().bus.healthy, { timeoutMs: 8000, what: 'bus healthy' })
    let probe = 0
    await waitFor(
      async () => {
        const key = `probe${++probe}` // a new key each time: L1 would answer a known one without asking L2
        return (await a.getOrLoad(key, async () => 1)) === 1 && (await a.inspect(key)).l2
      },
      {
        timeoutMs: 5000,
        what: 'L2 in use',
      },
    )
    expect(a.stats().l2.circuit).toBe('closed')
    expect(errors.length).toBeGreaterThan(0) // absorbed faults are reported to onError
  }, 30_000)

  it('a slowed Redis (a blocking script): calls time out, the circuit opens, readers get data, no stale read', async () => {
    const a = instance('a')
    const b = instance('b')
    await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
    const side = new Redis(redis.url)
    try {
      const violations = await underFault(a, b, async () => {
        const blocking = side
          .eval(
            `local t0 = redis.call('TIME')
             local start = t0[1] * 1000000 + t0[2]
             while true do
               local t = redis.call('TIME')
               if t[1] * 1000000 + t[2] - start > tonumber(ARGV[1]) * 1000 then break end
             end
             return 1`,
            0,
            1000,
          )
          .catch(() => undefined)
        await sleep(250)
        const t0 = Date.now()
        expect(await b.getOrLoad('fresh-key', async () => 5)).toBe(5)
        expect(Date.now() - t0).toBeLessThan(900) // Redis is blocked for 1 s: the answer came from the loader
        await blocking
        await waitFor(() => b.stats().bus.healthy, { timeoutMs: 5000, what: 'healthy again' })
      })
      expect(violations).toEqual([])
      expect(b.stats().errors.l2Timeouts).toBeGreaterThanOrEqual(1)
      expect(b.stats().bus.bypasses).toBeGreaterThanOrEqual(1)
    } finally {
      side.disconnect()
    }
  }, 30_000)
})
