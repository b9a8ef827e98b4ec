import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache, InvalidationFailedError } from '../../src/cache/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import { type RedisClusterServer, startRedisCluster } from '../support/services/index.js'
import { redisCommand } from '../support/services/resp.js'
import { sleep, waitFor } from '../support/wait.js'

/**
 * Redis Cluster failover (3 masters, 3 replicas, node timeout 1 s) under writes and fills (docs/contract.md,
 * "Redis Cluster failover"). Writer A bumps a key's database version, then invalidates or sets it, retrying until
 * the cache confirms (as the outbox's invalidator would); only then is the version acknowledged. Reader C has no
 * L1: it reads L2 (else loads), and must never return a version older than one acknowledged before its read
 * began, with no time allowance: L2 holds every confirmed change, also across the failover. Reader B has L1 and a
 * bus: it may lag by the bus bound only (C2). Loaders dawdle a little, so fills race the invalidations.
 *
 * The kill -9 runs with the master's replica paused (SIGSTOP) and its link dropped for a moment first: the master
 * takes changes its replica does not have, then dies, and the replica is promoted without them. Without the
 * tier's WAIT (for every replica the cluster knows, not only the connected ones) those changes were acknowledged
 * and lost, and C read the older values the promoted replica still held.
 */
const HEARTBEAT = 100
const BUS_BOUND = 3 * HEARTBEAT + 400 // heartbeat timeout plus slack on a shared machine
const KEYS = Array.from({ length: 12 }, (_, i) => `item${i}`)

let cluster: RedisClusterServer
beforeAll(async () => {
  cluster = await startRedisCluster({ replicas: 1, nodeTimeoutMs: 1000 })
}, 60_000)
afterAll(async () => {
  await cluster?.close()
})

const open: Cache<number>[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})

function instance(id: string, extra: Partial<CacheOptions> = {}): Cache<number> {
  const cache = createCache<number>({
    name: 'failover',
    instanceId: id,
    l2: createRedisTier({ nodes: cluster.nodes, prefix: 'fo:' }),
    bus: createRedisBus({ nodes: cluster.nodes, prefix: 'fo:bus:', heartbeatInterval: HEARTBEAT }),
    l2Timeout: '500ms',
    breaker: { failures: 5, resetAfter: '200ms' },
    lease: { ttl: '2s', wait: '300ms' },
    jitter: 0,
    ...extra,
  })
  open.push(cache)
  return cache
}

/** The master port serving a cache key's slot (the tier's keys are `prefix{name:key}:...`). */
async function masterOfKey(key: string): Promise<number> {
  const slot = Number(await redisCommand(cluster.nodes[0]!.port, ['CLUSTER', 'KEYSLOT', `failover:${key}`]))
  return (await cluster.masterOf(slot)).port
}

interface Run {
  violations: string[]
  acked: Map<string, number>
  failed: number
  writes: number
  /** Write attempts (tries included) on these keys, when set. */
  watched: Set<string>
  watchedTries: number
}

/** Writer A, readers B and C, around `fault`. */
async function underLoad(
  a: Cache<number>,
  b: Cache<number>,
  c: Cache<number>,
  fault: (run: Run) => Promise<void>,
) {
  const db = new Map(KEYS.map((key) => [key, 0]))
  const run: Run = {
    violations: [],
    acked: new Map(KEYS.map((key) => [key, 0])),
    failed: 0,
    writes: 0,
    watched: new Set(),
    watchedTries: 0,
  }
  const ackedAt: { key: string; version: number; at: number }[] = []
  let stop = false
  const loader = (key: string) => async () => {
    const version = db.get(key)!
    await sleep(Math.random() < 0.5 ? 0 : 3)
    return version
  }
  const pick = () => KEYS[Math.floor(Math.random() * KEYS.length)]!
  const reader = async (cache: Cache<number>, bound: number | undefined) => {
    while (!stop) {
      const key = pick()
      const owedNow = run.acked.get(key)!
      const started = Date.now()
      const version = await cache.getOrLoad(key, loader(key))
      const owed =
        bound === undefined
          ? owedNow
          : (ackedAt.filter((w) => w.key === key && w.at + bound < started).at(-1)?.version ?? 0)
      if (version < owed) {
        run.violations.push(`${cache.instanceId} read ${key} v${version} after v${owed} was acknowledged`)
      }
      await sleep(1)
    }
  }
  const writer = async () => {
    while (!stop) {
      const key = pick()
      const version = db.get(key)! + 1
      db.set(key, version)
      run.writes++
      // Retried until confirmed, as the outbox's invalidator retries a durable record.
      for (;;) {
        if (run.watched.has(key)) run.watchedTries++
        const write = version % 2 === 0 ? a.set(key, version) : a.invalidate(key)
        const ok = await write.then(
          () => true,
          (error: unknown) => {
            if (!(error instanceof InvalidationFailedError))
              run.violations.push(`write threw ${String(error)}`)
            run.failed++
            return false
          },
        )
        if (ok) break
        await sleep(20)
      }
      run.acked.set(key, version)
      ackedAt.push({ key, version, at: Date.now() })
      const own = await a.getOrLoad(key, loader(key))
      if (own < version) run.violations.push(`C1: A read ${key} v${own} after its write v${version}`)
      await sleep(5)
    }
  }
  const loops = [writer(), reader(b, BUS_BOUND), reader(c, undefined), reader(c, undefined)]
  try {
    await sleep(500)
    await fault(run)
    await sleep(500)
  } finally {
    stop = true
    await Promise.all(loops)
  }
  // After the heal every key's L2 value, when present, is its last version: nothing older got in.
  for (const key of KEYS) {
    const l2 = (await c.inspect(key)).l2?.value
    if (l2 !== undefined && l2 !== db.get(key))
      run.violations.push(`L2 holds ${key} v${l2}, not v${db.get(key)}`)
  }
  // And B serves every last version once the last message had its bus bound to arrive.
  await waitFor(
    async () => {
      const reads = await Promise.all(KEYS.map((key) => b.getOrLoad(key, loader(key))))
      return reads.every((version, i) => version === db.get(KEYS[i]!))
    },
    { timeoutMs: BUS_BOUND, what: 'B serving every last version' },
  )
  return run
}

describe('Redis Cluster failover (C1-C3 across a promotion)', () => {
  it('graceful CLUSTER FAILOVER, then kill -9 of a master whose replica lags: no older value, bus recovers', async () => {
    const a = instance('a')
    const b = instance('b')
    const c = instance('c', { l1: false })
    await waitFor(() => a.stats().bus.healthy && b.stats().bus.healthy, {
      timeoutMs: 10_000,
      what: 'bus healthy',
    })
    const run = await underLoad(a, b, c, async (run) => {
      // 1. Graceful: the replica catches up before it takes over; nothing is lost.
      const first = await masterOfKey(KEYS[0]!)
      const promoted = await cluster.failover(first)
      expect(await masterOfKey(KEYS[0]!)).toBe(promoted)
      const writes = run.writes
      await waitFor(() => run.writes > writes + 20, { timeoutMs: 10_000, what: 'writes after the failover' })

      // 2. kill -9 with the replica behind: changes on the master that the replica lacks.
      const victim = await masterOfKey(KEYS[1]!)
      const replica = await cluster.replicaOf(victim)
      const bypasses = b.stats().bus.bypasses
      const failed = run.failed
      for (const key of KEYS) if ((await masterOfKey(key)) === victim) run.watched.add(key)
      cluster.pause(replica)
      // The master drops the link too, so nothing it takes now reaches the replica, not even a socket buffer.
      expect(await redisCommand(victim, ['CLIENT', 'KILL', 'TYPE', 'replica'])).toBe(1)
      try {
        // Changes to the victim's keys while its replica takes nothing: none of them can be confirmed.
        const tries = run.watchedTries
        await waitFor(() => run.watchedTries >= tries + 3, {
          timeoutMs: 10_000,
          what: 'writes to the victim',
        })
        expect(run.failed).toBeGreaterThan(failed)
      } finally {
        // Resumed only once the master is dead: what it had not sent its replica is lost.
        expect(await cluster.killMaster(victim, () => cluster.resume(replica))).toBe(replica)
      }
      // The bus lost what the dead master relayed: B's L1 was bypassed and flushed; the bus is healthy again.
      await waitFor(() => b.stats().bus.bypasses > bypasses, { timeoutMs: 10_000, what: 'L1 bypassed' })
      await waitFor(() => b.stats().bus.healthy && a.stats().bus.healthy, {
        timeoutMs: 15_000,
        what: 'bus healthy',
      })

      // 3. Heal: the killed node comes back empty and follows the promoted replica.
      await cluster.restartNode(victim)
      const after = run.writes
      await waitFor(() => run.writes > after + 20, { timeoutMs: 10_000, what: 'writes after the heal' })
    })
    expect(run.violations).toEqual([])
    expect(run.failed).toBeGreaterThan(0)
    expect(b.stats().l1.enabled).toBe(true)
    expect(b.stats().l1.hits).toBeGreaterThan(0)
  }, 60_000)
})
