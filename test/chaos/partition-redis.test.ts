import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import {
  type LinkDirection,
  type PartitionProxy,
  type RedisServer,
  startPartitionProxy,
  startRedis,
  uniqueName,
} from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

/**
 * A network partition between one cache instance (A) and Redis, while another (B) keeps its link: A's L2 and
 * bus connections go through a partition proxy, B's straight to Redis. The promise (C2 under a partition): A's
 * own heartbeat stops echoing, so A counts its bus down within `heartbeatTimeout` (+ one tick) and bypasses L1
 * until the link heals; meanwhile B's writes happen, and A serves no value older than the database's. After the
 * heal A hears its echo again, flushes, and B's invalidations reach A's L1 again.
 */
const HEARTBEAT = 150
const TIMEOUT = 3 * HEARTBEAT
/** Detection bound: the timeout, one tick for the check, and slack for timers on a loaded machine. */
const DETECT_BOUND = TIMEOUT + HEARTBEAT + 1000

let redis: RedisServer
let proxy: PartitionProxy
beforeAll(async () => {
  redis = await startRedis()
  proxy = await startPartitionProxy({ host: redis.host, port: redis.port })
})
afterAll(async () => {
  await proxy?.close()
  await redis?.close()
})

const open: Cache<number>[] = []
afterEach(async () => {
  proxy.heal()
  await Promise.all(open.splice(0).map((c) => c.close()))
})

function instance(id: string, url: string, prefix: string): Cache<number> {
  const cache = createCache<number>({
    name: 'partition',
    instanceId: id,
    l2: createRedisTier({ url, prefix }),
    bus: createRedisBus({ url, prefix: `${prefix}bus:`, heartbeatInterval: HEARTBEAT }),
    l2Timeout: '150ms',
    breaker: { failures: 3, resetAfter: '200ms' },
    lease: { ttl: '2s', wait: '200ms' },
    jitter: 0,
  })
  open.push(cache)
  return cache
}

describe.each<[LinkDirection, string]>([
  ['both', 'both ways'],
  ['down', 'Redis -> A only (A publishes but is deaf)'],
  ['up', 'A -> Redis only (A hears but its publishes vanish)'],
])('a partition between one cache instance and Redis, %s', (direction, what) => {
  it(`detects the blackhole (${what}) within the heartbeat timeout, bypasses L1 until the heal, converges after`, async () => {
    const prefix = `${uniqueName('part')}:`
    const a = instance('a', `redis://${proxy.host}:${proxy.port}`, prefix)
    const b = instance('b', redis.url, prefix)
    await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, { what: 'buses healthy' })
    let db = 1
    const loader = async () => db
    expect(await a.getOrLoad('k', loader)).toBe(1)
    expect(await b.getOrLoad('k', loader)).toBe(1)
    expect(a.hasLocal('k')).toBe(true)

    proxy.set('blackhole', { direction })
    const cut = performance.now()
    await waitFor(() => !a.stats().bus.healthy, { timeoutMs: 10_000, intervalMs: 5, what: 'A unhealthy' })
    const detectedMs = performance.now() - cut
    expect(detectedMs).toBeLessThan(DETECT_BOUND)
    expect(a.hasLocal('k')).toBe(false) // flushed on the health change
    expect(b.stats().bus.healthy).toBe(true)

    // B writes while A is cut off; A's reads never return an older value and never fill L1.
    const loadsBefore = a.stats().loads
    for (let i = 0; i < 5; i++) {
      db++
      await b.invalidate('k')
      expect(await b.getOrLoad('k', loader)).toBe(db)
      expect(await a.getOrLoad('k', loader)).toBe(db)
      expect(a.hasLocal('k')).toBe(false)
      await sleep(HEARTBEAT)
    }
    expect(a.stats().loads - loadsBefore).toBe(5) // each read went to the loader, L1 and L2 both out of reach
    expect(a.stats().bus.healthy).toBe(false) // still down: nothing but the heal brings the echo back
    expect(a.stats().bus.bypasses).toBe(1)

    proxy.heal()
    await waitFor(() => a.stats().bus.healthy, { timeoutMs: 10_000, what: 'A healthy after the heal' })
    // Converged: A reads the latest, keeps it in L1, and B's next write reaches A's L1 over the bus again.
    await waitFor(async () => (await a.getOrLoad('k', loader)) === db && a.hasLocal('k'), {
      timeoutMs: 10_000,
      what: 'A caches the latest again',
    })
    db++
    await b.invalidate('k')
    await waitFor(() => !a.hasLocal('k'), { timeoutMs: 5000, intervalMs: 5, what: "B's invalidation at A" })
    expect(await a.getOrLoad('k', loader)).toBe(db)
    console.log(`partition ${direction}: detected after ${detectedMs.toFixed(0)} ms (timeout ${TIMEOUT} ms)`)
  })
})
