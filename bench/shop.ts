// `npm run bench -- shop [--duration 5] [--rounds 3] [--connections 32] [--instances N] [--only embedded|real]`
// The shop through its gateway under an HTTP load generator (autocannon, in this process), embedded and real,
// each beside a bare baseline of the same topology started in the same run: a bare gateway forwarding with the
// same transport to backends that answer from a Map. Every system under load runs in its own process
// (bench/_shop-target.ts). Measures product reads (L1 hits; L1 misses served by L2), price writes and orders;
// reads alternate with their baseline round by round. Writes bench/results/shop.json.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import type { RealEnv } from '../examples/shop/platform/real.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string' },
    /**
     * Instances per service of the shop, and backends behind the bare gateway: 2 embedded (as the demo), 1 real
     * (one process each: on a 2-core machine shared with test runs, 8 instance processes starting at once did not
     * all listen within the launcher's 60 s).
     */
    instances: { type: 'string' },
  },
})
const DURATION = Number(values.duration)
const ROUNDS = Number(values.rounds)
const CONNECTIONS = Number(values.connections)
const instancesOf = (mode: 'embedded' | 'real') => values.instances ?? (mode === 'embedded' ? '2' : '1')
const here = dirname(fileURLToPath(import.meta.url))
/** The admin token the targets start with (bench/_shop-target.ts): the bench reads the shop's status with it. */
const ADMIN_TOKEN = 'bench-admin-token-0123456789'
const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')

interface Target {
  url: string
  stop(): Promise<void>
}

/** Starts one system under load in its own process and resolves with its base URL once it serves. */
async function start(kind: string, args: string[] = [], env: Record<string, string> = {}): Promise<Target> {
  const instances = instancesOf(kind.startsWith('real') ? 'real' : 'embedded')
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--conditions=source',
      join(here, '_shop-target.ts'),
      kind,
      '--instances',
      instances,
      ...args,
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let seen = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk
      const match = /ready (http\S+)/.exec(seen)
      if (match) resolve(match[1]!)
    })
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}:\n${seen}`)))
  })
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await once(child, 'exit')
      clearTimeout(timer)
    },
  }
}

type Kind = 'read' | 'write' | 'order'
const randomId = () => 1 + Math.floor(Math.random() * 100)
const json = { 'content-type': 'application/json' }

/** The request mix of one measurement: reads of random seeded products, price writes, or small orders. */
function requestsOf(kind: Kind): autocannon.Request[] {
  if (kind === 'read')
    return [{ method: 'GET', setupRequest: (r) => ({ ...r, path: `/products/${randomId()}` }) }]
  if (kind === 'write')
    return [
      {
        method: 'PUT',
        setupRequest: (r) => ({
          ...r,
          path: `/products/${randomId()}`,
          headers: json,
          body: JSON.stringify({ price: 10 + Math.floor(Math.random() * 9000) / 100 }),
        }),
      },
    ]
  return [
    {
      method: 'POST',
      setupRequest: (r) => ({
        ...r,
        path: '/orders',
        headers: json,
        body: JSON.stringify({ memberId: randomId(), productId: randomId(), quantity: 1, points: 0 }),
      }),
    },
  ]
}

interface Figure {
  reqPerSec: number
  p50Ms: number
  p99Ms: number
  /** Requests unanswered in the window's time limit (errors and timeouts), when any. */
  unanswered?: number
}

/**
 * One autocannon run against `url`. Every answer must be a 2xx, else the figure would measure errors; a request
 * still unanswered after `timeout` seconds (an order on a machine busy with other runs) is counted, not fatal.
 */
async function measure(url: string, kind: Kind, seconds = DURATION): Promise<Figure> {
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 30,
    requests: requestsOf(kind),
  })
  if (result.non2xx > 0) throw new Error(`${url} ${kind}: ${result.non2xx} answers were not 2xx`)
  return {
    reqPerSec: Math.round(result.requests.total / (result.duration || seconds)),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ...(result.errors + result.timeouts > 0 && { unanswered: result.errors + result.timeouts }),
  }
}

/**
 * Waits until a freshly started shop is quiet: its relays first publish the seed's events (and the search
 * service projects them), which would otherwise take CPU from whatever is measured first on 2 cores.
 */
async function settle(url: string): Promise<void> {
  const deadline = Date.now() + 120_000
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` }
  for (;;) {
    const status = (await (await fetch(`${url}/admin/consistency/status`, { headers: auth })).json()) as {
      pendingOutboxEvents?: number
    }
    if (status.pendingOutboxEvents === 0) break
    if (Date.now() > deadline) throw new Error(`${url}: ${status.pendingOutboxEvents} events still pending`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  await new Promise((resolve) => setTimeout(resolve, 3000))
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const medianFigure = (figures: Figure[]): Figure => ({
  reqPerSec: median(figures.map((f) => f.reqPerSec)),
  p50Ms: median(figures.map((f) => f.p50Ms)),
  p99Ms: median(figures.map((f) => f.p99Ms)),
})
const show = (label: string, f: Figure) =>
  console.error(
    `  ${label.padEnd(44)} ${String(f.reqPerSec).padStart(6)} req/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms` +
      (f.unanswered ? `  (${f.unanswered} unanswered)` : ''),
  )

/**
 * Reads of `ours` and of each anchor in alternating rounds (so load from other processes hits all alike); the
 * median figure of each, and the median of the per-round ratios to each anchor.
 */
async function alternate(
  ours: [string, Target],
  anchors: [string, Target][],
): Promise<{ ours: Figure; anchors: Figure[]; ratios: number[] }> {
  for (const [, target] of [ours, ...anchors]) await measure(target.url, 'read', 2) // warm-up (JIT, L1)
  const mine: Figure[] = []
  const theirs: Figure[][] = anchors.map(() => [])
  const ratios: number[][] = anchors.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    const figures = []
    for (const [, target] of anchors) figures.push(await measure(target.url, 'read'))
    const o = await measure(ours[1].url, 'read')
    mine.push(o)
    figures.forEach((f, i) => {
      theirs[i]!.push(f)
      ratios[i]!.push(o.reqPerSec / f.reqPerSec)
    })
  }
  const result = { ours: medianFigure(mine), anchors: theirs.map(medianFigure), ratios: ratios.map(median) }
  show(ours[0], result.ours)
  for (const [i, [label]] of anchors.entries())
    show(`${label} (ratio ${result.ratios[i]!.toFixed(2)})`, result.anchors[i]!)
  return result
}

/** Writes and orders through the shop, each beside the same request to the baseline's Map backends. */
async function writesAndOrders(shop: Target, bare: Target) {
  const out: Record<string, { ours: Figure; baseline: Figure; ratio: number }> = {}
  for (const kind of ['write', 'order'] as const) {
    // An order is a saga of several transactions: give it a window long enough for many to finish.
    const seconds = kind === 'order' ? Math.max(DURATION, 10) : DURATION
    await measure(shop.url, kind, 2)
    const baseline = await measure(bare.url, kind, seconds)
    const ours = await measure(shop.url, kind, seconds)
    out[kind] = { ours, baseline, ratio: ours.reqPerSec / baseline.reqPerSec }
    show(`shop ${kind === 'write' ? 'PUT /products/:id (price)' : 'POST /orders (saga)'}`, ours)
    show(`  baseline, same request (ratio ${out[kind].ratio.toFixed(3)})`, baseline)
  }
  return out
}

/** The real servers, started once through the test harness and shared by both real shops in turn. */
async function startServers(): Promise<{ env: RealEnv; close(): Promise<unknown> }> {
  const harness = await import('../test/support/services/index.js')
  const [redis, nats, ...pairs] = await Promise.all([
    harness.startRedis(),
    harness.startNats(),
    harness.startPostgres({ replica: true }),
    harness.startPostgres({ replica: true }),
    harness.startPostgres({ replica: true }),
  ])
  const shards = await Promise.all(pairs.map((pair) => pair.createDatabase('shop')))
  const search = await pairs[0]!.createDatabase('search')
  return {
    env: {
      SHOP_SHARDS: shards.map((db) => `${db.primaryUrl},${db.replicaUrl}`).join(';'),
      SHOP_SEARCH_DB: search.primaryUrl,
      REDIS_URL: redis.url,
      NATS_URL: nats.url,
    },
    close: () => Promise.all([redis.close(), nats.close(), ...pairs.map((p) => p.close())]),
  }
}

const loadAtStart = load()
console.error(
  `node ${process.version}; ${CONNECTIONS} connections, ${DURATION} s per measurement, ${ROUNDS} rounds`,
)
console.error(
  `instances per service: embedded ${instancesOf('embedded')}, real ${instancesOf('real')}; load average at start: ${loadAtStart}`,
)
const results: Record<string, unknown> = {
  node: process.version,
  connections: CONNECTIONS,
  seconds: DURATION,
  rounds: ROUNDS,
  instancesPerService: { embedded: Number(instancesOf('embedded')), real: Number(instancesOf('real')) },
}
const running: Target[] = []
const started = async (...args: Parameters<typeof start>) => {
  const target = await start(...args)
  running.push(target)
  return target
}
const stopAll = async () => {
  await Promise.all(running.splice(0).map((t) => t.stop()))
}

try {
  if (values.only !== 'real') {
    console.error('embedded: gateway -> direct (in-process) transport -> instance, in one process')
    const mapApp = await started('map-app')
    const bare = await started('embedded-bare')
    const shop = await started('embedded-shop')
    await settle(shop.url)
    const hits = await alternate(
      ['shop GET /products/:id (L1 hits)', shop],
      [
        ['bare gateway -> direct transport -> Map', bare],
        ['bare fastify app answering from a Map', mapApp],
      ],
    )
    const more = await writesAndOrders(shop, bare)
    await stopAll()
    const missShop = await started('embedded-shop', ['--l1-ttl', '1'])
    const bareAgain = await started('embedded-bare')
    await settle(missShop.url)
    const misses = await alternate(
      ['shop GET /products/:id (L1 misses, L2 hits)', missShop],
      [['bare gateway -> direct transport -> Map', bareAgain]],
    )
    await stopAll()
    results.embedded = {
      readL1Hit: hits.ours,
      baseline: hits.anchors[0],
      mapApp: hits.anchors[1],
      readL1HitVsBaseline: Number(hits.ratios[0]!.toFixed(3)),
      readL1HitVsMapApp: Number(hits.ratios[1]!.toFixed(3)),
      readL1Miss: misses.ours,
      readL1MissVsBaseline: Number(misses.ratios[0]!.toFixed(3)),
      write: more.write!.ours,
      writeBaseline: more.write!.baseline,
      order: more.order!.ours,
      orderBaseline: more.order!.baseline,
    }
  }
  if (values.only !== 'embedded') {
    console.error('real: gateway process -> undici Pool over HTTP -> instance processes, on real servers')
    const servers = await startServers()
    try {
      const env = servers.env as unknown as Record<string, string>
      const bare = await started('real-bare', ['--transport', 'undici'])
      const bareFetch = await started('real-bare', ['--transport', 'fetch'])
      const shop = await started('real-shop', [], env)
      await settle(shop.url)
      const hits = await alternate(
        ['shop GET /products/:id (L1 hits)', shop],
        [
          ['bare gateway -> undici Pool -> Map process', bare],
          ['bare gateway -> fetch -> Map process', bareFetch],
        ],
      )
      const more = await writesAndOrders(shop, bare)
      await stopAll()
      const missShop = await started('real-shop', ['--l1-ttl', '1'], env)
      const bareAgain = await started('real-bare', ['--transport', 'undici'])
      await settle(missShop.url)
      const misses = await alternate(
        ['shop GET /products/:id (L1 misses, L2 hits)', missShop],
        [['bare gateway -> undici Pool -> Map process', bareAgain]],
      )
      await stopAll()
      results.real = {
        readL1Hit: hits.ours,
        baseline: hits.anchors[0],
        fetchBaseline: hits.anchors[1],
        readL1HitVsBaseline: Number(hits.ratios[0]!.toFixed(3)),
        readL1HitVsFetchBaseline: Number(hits.ratios[1]!.toFixed(3)),
        readL1Miss: misses.ours,
        readL1MissVsBaseline: Number(misses.ratios[0]!.toFixed(3)),
        write: more.write!.ours,
        writeBaseline: more.write!.baseline,
        order: more.order!.ours,
        orderBaseline: more.order!.baseline,
      }
    } finally {
      await stopAll()
      await servers.close()
    }
  }
} finally {
  await stopAll()
}

results.loadAverage = { start: loadAtStart, end: load() }
const out = join(here, 'results', 'shop.json')
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
type Side = { readL1Hit: Figure; readL1HitVsBaseline: number }
const e = results.embedded as (Side & { readL1HitVsMapApp: number }) | undefined
const r = results.real as (Side & { readL1HitVsFetchBaseline: number }) | undefined
console.log(
  [
    '| measure | ratio | target | shop req/s (p50 / p99 ms) |',
    '|---|---|---|---|',
    e &&
      `| embedded L1-hit read vs bare Map app | ${e.readL1HitVsMapApp} | >= 0.5 | ${e.readL1Hit.reqPerSec} (${e.readL1Hit.p50Ms} / ${e.readL1Hit.p99Ms}) |`,
    e &&
      `| embedded L1-hit read vs bare gateway, direct transport | ${e.readL1HitVsBaseline} | | ${e.readL1Hit.reqPerSec} |`,
    r &&
      `| real L1-hit read vs bare gateway, undici | ${r.readL1HitVsBaseline} | >= 0.8 | ${r.readL1Hit.reqPerSec} (${r.readL1Hit.p50Ms} / ${r.readL1Hit.p99Ms}) |`,
    r &&
      `| real L1-hit read vs bare gateway, fetch | ${r.readL1HitVsFetchBaseline} | | ${r.readL1Hit.reqPerSec} |`,
  ]
    .filter(Boolean)
    .join('\n'),
)
console.error(`load average at end: ${(results.loadAverage as { end: string }).end}`)
console.error(`wrote ${out}`)
process.exit(0)
