import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { newEventId } from '../../src/broker/index.js'
import { type Cache, type CacheOptions, createCache, InvalidationFailedError } from '../../src/cache/index.js'
import { createMemoryBroker } from '../../src/memory/index.js'
import { createInvalidator } from '../../src/outbox/index.js'
import { INVALIDATION_TOPIC, INVALIDATION_TYPE } from '../../src/outbox/writer.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import { type RedisServer, startRedis } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

/**
 * Faults on a private Redis while instance A writes (database version + 1, then invalidate) and instance B reads
 * in a loop. The promise checked after each: no read on B that began more than BOUND after a write was
 * acknowledged returns an older version (C2), and A never reads older than its own write (C1). A write whose
 * invalidation failed is not acknowledged (its caller gets InvalidationFailedError and retries; the outbox relay
 * would), so it owes B nothing; but A itself still must not read older than it: A dropped its L1 entry and
 * keeps off L2 for a key whose invalidation L2 did not confirm.
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

/** Blocks Redis with a busy script for `ms`; resolves once another connection's PING goes unanswered. */
async function blockRedis(side: Redis, watcher: Redis, ms: number): Promise<{ blocking: Promise<unknown> }> {
  // Connected first: a connection still being set up would look like a blocked server.
  await Promise.all([side.ping(), watcher.ping()])
  const blocking = side.eval(
    `local t0 = redis.call('TIME')
       local start = t0[1] * 1000000 + t0[2]
       while true do
         local t = redis.call('TIME')
         if t[1] * 1000000 + t[2] - start > tonumber(ARGV[1]) * 1000 then break end
       end
       return 1`,
    0,
    ms,
  )
  await waitFor(() => Promise.race([watcher.ping().then(() => false), sleep(100).then(() => true)]), {
    timeoutMs: 5000,
    intervalMs: 0,
    what: 'Redis blocked by the script',
  })
  return { blocking } // wrapped: returned bare, the caller's await would wait for the script's end
}

/** Runs writer A and reader B around `fault`, and returns the violations found. */
async function underFault(
  a: Cache<number>,
  b: Cache<number>,
  fault: (run: { failedInvalidations: number }) => Promise<void>,
): Promise<{ violations: string[]; failedInvalidations: number }> {
  let db = 0
  const acks: { version: number; at: number }[] = []
  const violations: string[] = []
  const run = { failedInvalidations: 0 }
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
      const acknowledged = await a.invalidate('item').then(
        () => true,
        (error: unknown) => {
          if (!(error instanceof InvalidationFailedError))
            violations.push(`invalidate threw ${String(error)}`)
          run.failedInvalidations++
          return false
        },
      )
      if (acknowledged) acks.push({ version, at: Date.now() })
      // A read never throws (a cache fault falls back to the loader), so nothing may hide this check.
      const own = await a.getOrLoad('item', loader)
      if (own < version) {
        violations.push(
          `C1: A read v${own} after its write v${version}${acknowledged ? '' : ' (invalidation failed)'}`,
        )
      }
      await sleep(15)
    }
  })()
  await sleep(300)
  await fault(run)
  await sleep(300)
  stop = true
  await Promise.all([reader, writer])
  expect(acks.length).toBeGreaterThan(5)
  return { violations, failedInvalidations: run.failedInvalidations }
}

describe('cache under Redis faults (C1, C2, C3)', () => {
  it('killing the subscriber connections mid-stream bypasses L1 until the bus is healthy again', async () => {
    const a = instance('a')
    const b = instance('b')
    await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
    const { violations } = await underFault(a, b, async () => {
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
    let release: (() => void) | undefined
    const inFlight = b.getOrLoad('slow', () => new Promise<number>((r) => (release = () => r(-1))))
    await waitFor(() => release, { what: 'the slow load to start (its token read)' })
    const { violations, failedInvalidations } = await underFault(a, b, async (run) => {
      await redis.stop()
      // At least one write while Redis is gone: its invalidation fails, and A must still read it back.
      await waitFor(() => run.failedInvalidations > 0, { what: 'a failed invalidation' })
      await redis.restart()
      release!()
      expect(await inFlight).toBe(-1)
      await waitFor(() => b.stats().bus.healthy && a.stats().bus.healthy, {
        timeoutMs: 8000,
        what: 'healthy',
      })
    })
    expect(violations).toEqual([])
    // Writes during the restart could not be invalidated; A still read each of them back (checked above).
    expect(failedInvalidations).toBeGreaterThan(0)
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
    const watcher = new Redis(redis.url)
    try {
      const { violations, failedInvalidations } = await underFault(a, b, async (run) => {
        const blocking = side.eval(
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
        // Blocked once a PING from another connection goes unanswered for 100 ms.
        await waitFor(() => Promise.race([watcher.ping().then(() => false), sleep(100).then(() => true)]), {
          timeoutMs: 5000,
          intervalMs: 0,
          what: 'Redis blocked by the script',
        })
        const t0 = Date.now()
        expect(await b.getOrLoad('fresh-key', async () => 5)).toBe(5)
        expect(Date.now() - t0).toBeLessThan(900) // Redis is blocked for 1 s: the answer came from the loader
        await waitFor(() => run.failedInvalidations > 0, { what: 'a failed invalidation' })
        expect(await blocking).toBe(1)
        await waitFor(() => b.stats().bus.healthy, { timeoutMs: 5000, what: 'healthy again' })
      })
      expect(violations).toEqual([])
      expect(failedInvalidations).toBeGreaterThan(0)
      expect(b.stats().errors.l2Timeouts).toBeGreaterThanOrEqual(1)
      expect(b.stats().bus.bypasses).toBeGreaterThanOrEqual(1)
    } finally {
      side.disconnect()
      watcher.disconnect()
    }
  }, 30_000)

  it('a durable invalidation refused by an open circuit is retried until it applies, not given up on (C2)', async () => {
    // A's circuit stays open for 3 s: longer than the broker's default 5 deliveries take at this backoff.
    const a = instance('a', { breaker: { failures: 1, resetAfter: '3s' } })
    const b = instance('b')
    await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'healthy' })
    await a.set('item', 4)
    expect(await b.get('item')).toBe(4)
    const side = new Redis(redis.url)
    const watcher = new Redis(redis.url)
    const broker = createMemoryBroker()
    const invalidator = createInvalidator({
      broker,
      caches: { chaos: a },
      subscribe: { backoff: [50] },
    })
    try {
      const { blocking } = await blockRedis(side, watcher, 800)
      // An L2 write that times out opens A's circuit.
      await expect(a.invalidate('other')).rejects.toBeInstanceOf(InvalidationFailedError)
      expect(a.stats().l2.circuit).toBe('open')
      expect(await blocking).toBe(1)
      // The write's own invalidation is refused without reaching Redis: L2 keeps v4, B reads it from there.
      await expect(a.invalidate('item')).rejects.toBeInstanceOf(InvalidationFailedError)
      await waitFor(() => b.stats().bus.healthy, { timeoutMs: 5000, what: 'B healthy again' })
      expect(await b.get('item')).toBe(4)

      // The durable record (as the relay publishes it) reaches A while its circuit is still open.
      await invalidator.start()
      await broker.publish(INVALIDATION_TOPIC, [
        {
          id: newEventId(),
          aggregateType: 'concord-cache',
          aggregateId: 'chaos:1',
          aggregateVersion: 0,
          type: INVALIDATION_TYPE,
          payload: { cache: 'chaos', keys: ['item'] },
          headers: {},
          createdAt: new Date().toISOString(),
        },
      ])
      await waitFor(() => invalidator.applied() === 1, { timeoutMs: 8000, what: 'record applied' })
      expect(a.stats().l2.circuit).toBe('closed')
      // L2 and B's L1 follow: B no longer reads v4.
      await waitFor(async () => (await b.get('item')) === undefined, { timeoutMs: 3000, what: 'B healed' })
    } finally {
      await invalidator.close()
      await broker.close()
      side.disconnect()
      watcher.disconnect()
    }
  }, 30_000)
})
