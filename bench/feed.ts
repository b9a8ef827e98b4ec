// `npm run bench -- feed [--backlog 20000] [--seconds 4]`
// The change feed (concord/pg createChangeFeed) on a private PostgreSQL (wal_level = logical) and Redis (the bus),
// two cache instances (L1 + Redis bus; the feed invalidates through instance A, B hears the bus):
// 1. Latency: writers commit single-row INSERTs at 1,000 and 10,000 changes/s; commit -> the key evicted from
//    BOTH instances' L1, p50/p99. Beside it, in the same run, the application's own path: commit, then
//    `cache.invalidate` on A (the synchronous invalidation), same measure.
// 2. Throughput: a backlog of N committed transactions read by a raw logical-replication consumer
//    (pg-logical-replication, pgoutput, nothing applied: the limit) and by the feed (decoded, applied to the
//    caches over the bus, acknowledged): changes per second, and the ratio.
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { type Cache, createCache } from 'concord/cache'
import { createChangeFeed } from 'concord/pg'
import { createRedisBus } from 'concord/redis'
import pg from 'pg'
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication'
import { startPostgres } from '../test/support/services/postgres.js'
import { startRedis } from '../test/support/services/redis.js'

const { values } = parseArgs({
  options: {
    backlog: { type: 'string', default: '20000' },
    seconds: { type: 'string', default: '4' },
  },
})
const BACKLOG = Number(values.backlog)
const SECONDS = Number(values.seconds)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
const round = (x: number) => Math.round(x * 100) / 100

const loadAtStart = loadavg()
console.log(`load average at start: ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`)
const pgServer = await startPostgres({ replica: false })
const redis = await startRedis()
const db = await pgServer.createDatabase('bench_feed')
const sql = new pg.Pool({ connectionString: db.primaryUrl, max: 8 })
const prefix = 'bench-feed:'
const instance = () => createCache<number>({ name: 'items', bus: createRedisBus({ url: redis.url, prefix }) })
const a: Cache<number> = instance()
const b: Cache<number> = instance()
let nextId = 1

/** Commits one INSERT per change at `rate`/s for SECONDS; returns commit -> both L1 evicted, in ms. */
async function latency(
  rate: number,
  after: (id: number) => Promise<void>,
): Promise<{ ms: number[]; rate: number }> {
  const ms: number[] = []
  const outstanding = new Map<number, number>()
  const total = rate * SECONDS
  const watch = setInterval(() => {
    const now = performance.now()
    for (const [id, t0] of outstanding) {
      if (!a.hasLocal(`item:${id}`) && !b.hasLocal(`item:${id}`)) {
        ms.push(now - t0)
        outstanding.delete(id)
      }
    }
  }, 1)
  const started = performance.now()
  let sent = 0
  const inFlight = new Set<Promise<void>>()
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * rate) + 1)
    while (sent < due && inFlight.size < 64) {
      const id = nextId++
      sent++
      const key = `item:${id}`
      await a.getOrLoad(key, () => id)
      await b.getOrLoad(key, () => id)
      const p = (async () => {
        await sql.query('INSERT INTO items (id, v) VALUES ($1, 0)', [id])
        outstanding.set(id, performance.now())
        await after(id)
      })()
      inFlight.add(p)
      void p.finally(() => inFlight.delete(p))
    }
    await sleep(1)
  }
  await Promise.all(inFlight)
  const achieved = Math.round(total / ((performance.now() - started) / 1000))
  const deadline = Date.now() + 30_000
  while (outstanding.size > 0 && Date.now() < deadline) await sleep(5)
  clearInterval(watch)
  if (outstanding.size > 0) console.log(`  ${outstanding.size} keys never evicted`)
  return { ms: ms.sort((x, y) => x - y), rate: achieved }
}

const backlog = async (n: number) => {
  const jobs: Promise<unknown>[] = []
  for (let i = 0; i < n; i++) {
    jobs.push(sql.query('INSERT INTO items (id, v) VALUES ($1, 1)', [nextId++]))
    if (jobs.length >= 64) await Promise.all(jobs.splice(0))
  }
  await Promise.all(jobs)
}

try {
  await sql.query('CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL)')
  const tables = { items: { cache: 'items', keys: (row: Record<string, unknown>) => [`item:${row.id}`] } }
  const feed = createChangeFeed({
    connectionString: db.primaryUrl,
    slot: 'bench_feed',
    tables,
    caches: { items: a },
  })
  await feed.start()

  const phases: Record<string, { p50: number; p99: number; rate: number; n: number }> = {}
  for (const rate of [1000, 10_000]) {
    for (const [path, after] of [
      ['feed', async () => {}],
      ['app', (id: number) => a.invalidate(`item:${id}`)],
    ] as const) {
      const r = await latency(rate, after)
      phases[`${path}@${rate}`] = {
        p50: round(pct(r.ms, 50)),
        p99: round(pct(r.ms, 99)),
        rate: r.rate,
        n: r.ms.length,
      }
      console.log(
        `${path} at ${rate}/s (achieved ${r.rate}/s): p50 ${pct(r.ms, 50).toFixed(2)} ms, p99 ${pct(r.ms, 99).toFixed(2)} ms`,
      )
    }
  }
  await feed.close()

  // Throughput: two slots made before the backlog, each reading the same N transactions.
  await sql.query(`SELECT pg_create_logical_replication_slot('bench_raw', 'pgoutput')`)
  const throughputFeed = createChangeFeed({
    connectionString: db.primaryUrl,
    slot: 'bench_feed_t',
    publication: 'bench_feed',
    tables,
    caches: { items: a },
  })
  await throughputFeed.start()
  await throughputFeed.close()
  await backlog(BACKLOG)

  const raw = new LogicalReplicationService(
    { connectionString: db.primaryUrl },
    { acknowledge: { auto: false, timeoutSeconds: 0 } },
  )
  let commits = 0
  let rawDone!: () => void
  const rawFinished = new Promise<void>((resolve) => {
    rawDone = resolve
  })
  raw.on('data', (_lsn, message: { tag: string }) => {
    if (message.tag === 'commit' && ++commits === BACKLOG) rawDone()
  })
  raw.on('error', () => {})
  const rawStart = performance.now()
  void raw
    .subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: ['bench_feed'] }), 'bench_raw')
    .catch(() => {})
  await rawFinished
  const rawPerSec = Math.round(BACKLOG / ((performance.now() - rawStart) / 1000))
  await raw.destroy()

  const again = createChangeFeed({
    connectionString: db.primaryUrl,
    slot: 'bench_feed_t',
    publication: 'bench_feed',
    tables,
    caches: { items: a },
    createSlot: false,
  })
  const feedStart = performance.now()
  await again.start()
  while ((await again.status()).transactions < BACKLOG) await sleep(5)
  const feedPerSec = Math.round(BACKLOG / ((performance.now() - feedStart) / 1000))
  await again.close()

  const loadAtEnd = loadavg()
  const at1k = phases['feed@1000']!
  const result = {
    at: new Date().toISOString(),
    loadAverage: { start: loadAtStart, end: loadAtEnd },
    latencyMs: phases,
    throughput: {
      rawChangesPerSec: rawPerSec,
      feedChangesPerSec: feedPerSec,
      feedVsRaw: round(feedPerSec / rawPerSec),
      backlog: BACKLOG,
    },
    feedP99VsAppP99At1000: round(at1k.p99 / Math.max(0.01, phases['app@1000']!.p99)),
    targets: { p99MsAt1000: 50, feedVsRaw: 0.5 },
  }
  console.log(`
feed: commit -> every L1 evicted p99 ${at1k.p99} ms at 1,000/s (target <= 50 ms), p50 ${at1k.p50} ms; ${result.feedP99VsAppP99At1000}x the application's synchronous path's p99 (${phases['app@1000']!.p99} ms)
      at 10,000/s: p99 ${phases['feed@10000']!.p99} ms (achieved ${phases['feed@10000']!.rate}/s; app path p99 ${phases['app@10000']!.p99} ms)
      throughput ${feedPerSec}/s, ${result.throughput.feedVsRaw}x a raw logical-replication read's ${rawPerSec}/s (target >= 0.5x)
      load average: start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}, end ${loadAtEnd.map((x) => x.toFixed(2)).join(' ')}`)
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'feed.json')
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  console.log(`wrote ${out}`)
} finally {
  await Promise.allSettled([a.close(), b.close()])
  await sql.end()
  await redis.close()
  await pgServer.close()
}
