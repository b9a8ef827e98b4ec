// `npm run bench -- cache`: concord's cache against bentocache, raw lru-cache and raw ioredis, in one process and
// one run, on a private redis-server started here. Writes bench/results/cache.json.
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
import type { InvalidationBus } from 'concord/cache'
import { type Cache, createCache } from 'concord/cache'
import { createRedisBus, createRedisTier } from 'concord/redis'
import { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import { startRedis } from '../test/support/services/redis.js'

const L1_SIZE = 10_000
const CONCURRENCY = 32
const INVALIDATION_ROUNDS = 1000
const value = { id: 42, name: 'Desk lamp', price: 1999, stock: 1000, version: 3, tags: ['home', 'light'] }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Ops/s of `ours` and of `anchor`, measured in alternating rounds (anchor, ours, anchor, ours, ...) so that load
 * from other processes on a shared machine hits both alike; the median of each, and the median of the per-round
 * ratios (the number reported).
 */
async function compare(
  label: [ours: string, anchor: string],
  rounds: number,
  measureOurs: () => Promise<number>,
  measureAnchor: () => Promise<number>,
): Promise<{ ours: number; anchor: number; ratio: number }> {
  await measureAnchor() // warm-up (JIT)
  await measureOurs()
  const ours: number[] = []
  const anchor: number[] = []
  const ratios: number[] = []
  for (let r = 0; r < rounds; r++) {
    const a = await measureAnchor()
    const o = await measureOurs()
    anchor.push(a)
    ours.push(o)
    ratios.push(o / a)
  }
  const result = {
    ours: percentile(ours, 0.5),
    anchor: percentile(anchor, 0.5),
    ratio: percentile(ratios, 0.5),
  }
  console.error(
    `  ${label[0]}: ${fmt(result.ours)} ops/s; ${label[1]}: ${fmt(result.anchor)} ops/s; ratio ${result.ratio.toFixed(3)}`,
  )
  return result
}

/** Ops/s of `n` awaited calls in a loop. */
function sequential(n: number, body: () => Promise<unknown>): () => Promise<number> {
  return async () => {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) await body()
    return (n / (performance.now() - t0)) * 1000
  }
}

/**
 * Ops/s of `total` calls spread over `CONCURRENCY` concurrent loops, each on its own key: no two calls in flight
 * share a key, so concord's single flight cannot merge them and both sides make one Redis round trip per call.
 */
function concurrent(total: number, body: (worker: number) => Promise<unknown>): () => Promise<number> {
  return async () => {
    const per = Math.floor(total / CONCURRENCY)
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async (_, worker) => {
        for (let i = 0; i < per; i++) await body(worker)
      }),
    )
    return ((per * CONCURRENCY) / (performance.now() - t0)) * 1000
  }
}

/** Client CPU microseconds per call (user + system of this process), the same calls as `concurrent`. */
async function cpuPerCall(total: number, body: (worker: number) => Promise<unknown>): Promise<number> {
  const per = Math.floor(total / CONCURRENCY)
  const before = process.cpuUsage()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      for (let i = 0; i < per; i++) await body(worker)
    }),
  )
  const used = process.cpuUsage(before)
  return (used.user + used.system) / (per * CONCURRENCY)
}

function percentile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!
}
const fmt = (n: number) =>
  n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(2)

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')
const loadAtStart = load()
const redis = await startRedis()
const connection = { host: redis.host, port: redis.port }
/**
 * The invalidation measurement watches L1 from the bus's own callbacks (the only place a remote drop happens),
 * like the raw anchor below times the subscriber's 'message' event. Polling `hasLocal` with setImmediate instead
 * spins the event loop through the measured window, and the garbage of that spin set off most of the young-
 * generation collections (several ms each on a 2-core machine) right inside it: that was most of the p99.
 */
let afterBusEvent: () => void = () => {}
const watched = (bus: InvalidationBus): InvalidationBus => ({
  kind: bus.kind,
  connect: (options) =>
    bus.connect({
      ...options,
      onMessage: (message) => {
        options.onMessage(message)
        afterBusEvent()
      },
      onHealth: (healthy, reason) => {
        options.onHealth(healthy, reason)
        afterBusEvent()
      },
    }),
})
const concordOf = (
  name: string,
  instanceId: string,
  l1: false | { maxEntries: number } = { maxEntries: L1_SIZE },
) =>
  createCache<typeof value>({
    name,
    instanceId,
    l1,
    l2: createRedisTier({ url: redis.url, prefix: 'bench:' }),
    bus: watched(createRedisBus({ url: redis.url, prefix: 'bench:bus:', heartbeatInterval: '1s' })),
    ttl: '10m',
  })
const waitHealthy = async (caches: Cache<unknown>[]) => {
  while (!caches.every((c) => c.stats().bus.healthy)) await sleep(5)
}

try {
  console.error(`redis-server ${redis.url}; node ${process.version}`)
  console.error(`load average at start: ${loadAtStart}`)
  // ---- L1 hits ----
  console.error('L1 hit (one key, awaited in a loop):')
  const concord = concordOf('l1', 'bench-l1')
  await waitHealthy([concord as Cache<unknown>])
  const loader = async () => value
  await concord.getOrLoad('hot', loader)
  const bento = new BentoCache({
    default: 'cache',
    stores: {
      cache: bentostore()
        .useL1Layer(memoryDriver({ maxItems: L1_SIZE }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
    },
  })
  await bento.getOrSet({ key: 'hot', factory: loader, ttl: '10m' })
  const lru = new LRUCache<string, typeof value>({ max: L1_SIZE })
  lru.set('hot', value)

  const vsLru = await compare(
    ['concord getOrLoad', 'awaited lru-cache get'],
    7,
    sequential(1_000_000, () => concord.getOrLoad('hot', loader)),
    sequential(1_000_000, async () => lru.get('hot')),
  )
  const vsBento = await compare(
    ['concord getOrLoad', 'bentocache getOrSet'],
    5,
    sequential(500_000, () => concord.getOrLoad('hot', loader)),
    sequential(50_000, () => bento.getOrSet({ key: 'hot', factory: loader, ttl: '10m' })),
  )
  const concordL1 = vsLru.ours
  const lruOps = vsLru.anchor
  const bentoL1 = vsBento.anchor

  // ---- L2 hits ----
  console.error('L2 hit (L1 off, one key):')
  const l2Only = concordOf('l2', 'bench-l2', false)
  const raw = new Redis(redis.url, { enableAutoPipelining: true })
  const keys = Array.from({ length: CONCURRENCY }, (_, w) => `warm:${w}`)
  for (const key of keys) {
    await l2Only.getOrLoad(key, loader)
    await raw.set(`bench:raw:${key}`, JSON.stringify(value))
  }
  const rawKeys = keys.map((key) => `bench:raw:${key}`)
  const vsIoredis = await compare(
    ['concord getOrLoad (L2 hit)', `ioredis get (concurrency ${CONCURRENCY})`],
    7,
    concurrent(64_000, (w) => l2Only.getOrLoad(keys[w]!, loader)),
    concurrent(64_000, (w) => raw.get(rawKeys[w]!)),
  )
  const cpuRaw: number[] = []
  const cpuOurs: number[] = []
  for (let r = 0; r < 5; r++) {
    cpuRaw.push(await cpuPerCall(32_000, (w) => raw.get(rawKeys[w]!)))
    cpuOurs.push(await cpuPerCall(32_000, (w) => l2Only.getOrLoad(keys[w]!, loader)))
  }
  const cpuL2 = { ours: percentile(cpuOurs, 0.5), anchor: percentile(cpuRaw, 0.5) }
  console.error(
    `  client CPU per call: concord ${cpuL2.ours.toFixed(1)} us, ioredis get ${cpuL2.anchor.toFixed(1)} us`,
  )
  const l2Stats = l2Only.stats()
  console.error(
    `  (concord L2 hits ${l2Stats.l2.hits}, loads ${l2Stats.loads}, circuit ${l2Stats.l2.circuit}: every call went to Redis)`,
  )
  if (l2Stats.loads !== CONCURRENCY || l2Stats.l2.circuit !== 'closed')
    throw new Error('L2 benchmark did not hit L2')
  const concordL2 = vsIoredis.ours
  const ioredisOps = vsIoredis.anchor

  // ---- stampede ----
  console.error('Stampede (1,000 concurrent cold reads over 4 instances):')
  const instances = [0, 1, 2, 3].map((i) => concordOf('stampede', `bench-s${i}`))
  await waitHealthy(instances as Cache<unknown>[])
  let loaderCalls = 0
  const slowLoader = async () => {
    loaderCalls++
    await sleep(50)
    return value
  }
  const stampedeStart = performance.now()
  await Promise.all(Array.from({ length: 1000 }, (_, i) => instances[i % 4]!.getOrLoad('cold', slowLoader)))
  const stampedeMs = performance.now() - stampedeStart
  console.error(`  loader calls: ${loaderCalls} (all 1,000 served in ${stampedeMs.toFixed(1)} ms)`)

  // ---- invalidation latency ----
  // Each round measures ours and then the floor, a raw ioredis PUBLISH until a raw subscriber's 'message' event,
  // so that load from other processes on a shared machine falls on both alike.
  console.error('Invalidation (instance 0 invalidates; time until instances 1-3 dropped the key):')
  const rawSub = new Redis(redis.url)
  const rawPub = new Redis(redis.url)
  await rawSub.subscribe('bench:raw:pubsub')
  const samples: number[] = []
  const rawSamples: number[] = []
  const WARM_UP = 20 // rounds not counted: first script loads, JIT
  for (let round = -WARM_UP; round < INVALIDATION_ROUNDS; round++) {
    const key = `inv:${round % 10}`
    for (const c of instances) await c.getOrLoad(key, loader)
    const waiting = new Set(instances.slice(1))
    let t0 = 0
    const done = new Promise<void>((resolve) => {
      afterBusEvent = () => {
        for (const c of waiting) {
          if (c.hasLocal(key)) continue
          if (round >= 0) samples.push(performance.now() - t0)
          waiting.delete(c)
        }
        if (waiting.size === 0) resolve()
      }
    })
    const fallback = setInterval(afterBusEvent, 100) // only if a drop came some other way (none should)
    t0 = performance.now()
    await instances[0]!.invalidate(key)
    await done
    clearInterval(fallback)
    afterBusEvent = () => {}
    await sleep(1)

    const r0 = performance.now()
    const heard = new Promise<void>((resolve) => rawSub.once('message', () => resolve()))
    await rawPub.publish('bench:raw:pubsub', 'x')
    await heard
    if (round >= 0) rawSamples.push(performance.now() - r0)
    await sleep(1)
  }
  rawSub.disconnect()
  rawPub.disconnect()
  const p50 = percentile(samples, 0.5)
  const p99 = percentile(samples, 0.99)
  const early = instances.slice(1).reduce((n, c) => n + c.stats().bus.earlyIn, 0)
  console.error(
    `  p50 ${p50.toFixed(3)} ms, p99 ${p99.toFixed(3)} ms, max ${Math.max(...samples).toFixed(3)} ms (early copies heard: ${early})`,
  )
  const rawP50 = percentile(rawSamples, 0.5)
  const rawP99 = percentile(rawSamples, 0.99)
  console.error(`  raw ioredis pub/sub delivery: p50 ${rawP50.toFixed(3)} ms, p99 ${rawP99.toFixed(3)} ms`)
  console.error(`  p99 ratio (concord / raw): ${(p99 / rawP99).toFixed(2)}`)

  const results = {
    node: process.version,
    concurrency: CONCURRENCY,
    l1HitOpsPerSec: Math.round(concordL1),
    bentocacheL1HitOpsPerSec: Math.round(bentoL1),
    lruCacheGetOpsPerSec: Math.round(lruOps),
    l1HitVsBentocache: Number(vsBento.ratio.toFixed(2)),
    l1HitVsLruCache: Number(vsLru.ratio.toFixed(3)),
    l2HitOpsPerSec: Math.round(concordL2),
    ioredisGetOpsPerSec: Math.round(ioredisOps),
    l2HitVsIoredis: Number(vsIoredis.ratio.toFixed(3)),
    l2HitClientCpuUs: Number(cpuL2.ours.toFixed(2)),
    ioredisGetClientCpuUs: Number(cpuL2.anchor.toFixed(2)),
    stampedeLoaderCalls: loaderCalls,
    stampedeMs: Number(stampedeMs.toFixed(1)),
    invalidationP50Ms: Number(p50.toFixed(3)),
    invalidationP99Ms: Number(p99.toFixed(3)),
    invalidationMaxMs: Number(Math.max(...samples).toFixed(3)),
    invalidationSamples: samples.length,
    rawPubSubP50Ms: Number(rawP50.toFixed(3)),
    rawPubSubP99Ms: Number(rawP99.toFixed(3)),
    invalidationP99VsRaw: Number((p99 / rawP99).toFixed(2)),
    loadAverage: { start: loadAtStart, end: load() },
  }
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'cache.json')
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  console.log(
    [
      '| measure | concord | anchor | ratio | target |',
      '|---|---|---|---|---|',
      `| L1 hit, ops/s | ${fmt(concordL1)} | bentocache getOrSet ${fmt(bentoL1)} | ${results.l1HitVsBentocache}x | >= 20x |`,
      `| L1 hit, ops/s | ${fmt(concordL1)} | awaited lru-cache get ${fmt(lruOps)} | ${results.l1HitVsLruCache} | >= 0.5 |`,
      `| L2 hit, ops/s (concurrency ${CONCURRENCY}) | ${fmt(concordL2)} | ioredis get ${fmt(ioredisOps)} | ${results.l2HitVsIoredis} | >= 0.9 |`,
      `| L2 hit, client CPU per call | ${cpuL2.ours.toFixed(1)} us | ioredis get ${cpuL2.anchor.toFixed(1)} us | ${(cpuL2.anchor / cpuL2.ours).toFixed(2)} | |`,
      `| stampede: loader calls for 1,000 cold reads on 4 instances | ${loaderCalls} | | | == 1 |`,
      `| invalidation to 3 other instances, p50 / p99 ms | ${results.invalidationP50Ms} / ${results.invalidationP99Ms} | raw pub/sub delivery ${results.rawPubSubP50Ms} / ${results.rawPubSubP99Ms} | p99 ${results.invalidationP99VsRaw}x | p99 <= 2x |`,
    ].join('\n'),
  )
  console.error(`load average at end: ${results.loadAverage.end}`)
  console.error(`wrote ${out}`)
  await Promise.all([concord.close(), l2Only.close(), ...instances.map((c) => c.close())])
  await bento.disconnectAll()
  raw.disconnect()
} finally {
  await redis.close()
}
process.exit(0)
