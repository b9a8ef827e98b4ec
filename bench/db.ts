// `npm run bench -- db [--duration 6s] [--concurrency 8] [--rounds 12]`
// LSN-routed reads against plain primary reads, in one run on a private PostgreSQL primary + streaming
// replica: what the minLsn check costs. With a token the connection already saw replayed, none; with a
// new token per read (a write stream running), one extra round trip on the replica connection, or a
// primary read when the replica has not replayed it yet. Anchors in the same run: node-postgres straight
// to the primary (no concord), concord's primary reads, and primary reads under the same write stream.
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createShards, type Queryable } from 'concord/db'
import { createPgNode } from 'concord/pg'
import pg from 'pg'
import { startPostgres } from '../test/support/services/postgres.js'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '6s' },
    concurrency: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '12' },
  },
})
const durationMs =
  Number.parseFloat(values.duration) *
  (values.duration.endsWith('s') && !values.duration.endsWith('ms') ? 1000 : 1)
const concurrency = Number(values.concurrency)
const rounds = Number(values.rounds)
const ROWS = 1000

const server = await startPostgres({ replica: true })
const db = await server.createDatabase('bench_db')
const raw = new pg.Pool({ connectionString: db.primaryUrl, max: concurrency })
const shards = createShards({
  shards: [
    {
      primary: createPgNode({ connectionString: db.primaryUrl, max: concurrency }),
      replicas: [createPgNode({ connectionString: db.replicaUrl!, max: concurrency })],
    },
  ],
  healthInterval: '500ms',
})

try {
  await shards.onShard(0, async (tx) => {
    await tx.query('CREATE TABLE product (id int PRIMARY KEY, name text NOT NULL, price int NOT NULL)')
    await tx.query(`INSERT INTO product SELECT g, 'product ' || g, g * 3 FROM generate_series(1, ${ROWS}) g`)
  })
  const { lsn } = await shards.onShard(0, (tx) =>
    tx.query('UPDATE product SET price = price + 1 WHERE id = 1'),
  )
  await server.waitForReplica()
  await shards.refreshHealth()

  const byId = (q: Queryable, id: number) =>
    q.query('SELECT id, name, price FROM product WHERE id = $1', [id])
  const routes = { replayed: { primary: 0, replica: 0 }, fresh: { primary: 0, replica: 0 } }
  const count = (kind: 'replayed' | 'fresh') => (route: { node: 'primary' | 'replica' }) => {
    routes[kind][route.node]++
  }
  // The latest commit LSN of a write stream that runs during the "under writes" modes: each read's token
  // is then usually newer than what its connection saw, so the check is a real round trip, and some tokens
  // are not replayed yet (those reads go to the primary).
  const writes = { latest: lsn, running: false, count: 0 }
  const writeStream = async () => {
    while (writes.running) {
      const id = (writes.count++ % ROWS) + 1
      writes.latest = (
        await shards.withTransaction(id, (tx) =>
          tx.query('UPDATE product SET price = price + 1 WHERE id = $1', [id]),
        )
      ).lsn
    }
  }
  const modes: Record<string, { op: (id: number) => Promise<unknown>; underWrites?: boolean }> = {
    'pg pool, primary (no concord)': {
      op: (id) => raw.query('SELECT id, name, price FROM product WHERE id = $1', [id]),
    },
    'primary read': { op: (id) => shards.read(id, (q) => byId(q, id), { primary: true }) },
    'LSN-routed read, replayed token': {
      op: (id) => shards.read(id, (q) => byId(q, id), { minLsn: lsn, onRoute: count('replayed') }),
    },
    'replica read, no check': { op: (id) => shards.read(id, (q) => byId(q, id)) },
    'primary read, under writes': {
      op: (id) => shards.read(id, (q) => byId(q, id), { primary: true }),
      underWrites: true,
    },
    'LSN-routed read, fresh token, under writes': {
      op: (id) => shards.read(id, (q) => byId(q, id), { minLsn: writes.latest, onRoute: count('fresh') }),
      underWrites: true,
    },
  }

  const samples = new Map<string, number[]>(Object.keys(modes).map((name) => [name, []]))
  // p50 of each mode in each round: ratios taken within a round, then their median, resist the load
  // bursts of a shared machine better than a ratio of totals.
  const roundP50 = new Map<string, number[]>(Object.keys(modes).map((name) => [name, []]))
  const elapsed = new Map<string, number>(Object.keys(modes).map((name) => [name, 0]))
  for (const { op } of Object.values(modes)) await run(op, 500) // warm pools and plans
  routes.replayed = { primary: 0, replica: 0 }
  routes.fresh = { primary: 0, replica: 0 }
  // Rounds interleave the modes, so drift on a shared machine touches each alike.
  for (let round = 0; round < rounds; round++) {
    for (const [name, { op, underWrites }] of Object.entries(modes)) {
      writes.running = underWrites === true
      const writer = underWrites ? writeStream() : Promise.resolve()
      const started = performance.now()
      const latencies = await run(op, durationMs / rounds)
      samples.get(name)!.push(...latencies)
      roundP50.get(name)!.push(
        quantile(
          [...latencies].sort((a, b) => a - b),
          0.5,
        ),
      )
      elapsed.set(name, elapsed.get(name)! + performance.now() - started)
      writes.running = false
      await writer
    }
  }

  const rows = Object.keys(modes).map((name) => {
    const latencies = samples.get(name)!.sort((a, b) => a - b)
    return {
      mode: name,
      ops: latencies.length,
      opsPerSec: Math.round((latencies.length / elapsed.get(name)!) * 1000),
      p50Ms: round3(quantile(latencies, 0.5)),
      p99Ms: round3(quantile(latencies, 0.99)),
    }
  })
  const at = (mode: string) => rows.find((r) => r.mode === mode)!
  const primary = at('primary read')
  const lsnRouted = at('LSN-routed read, replayed token')
  const replica = at('replica read, no check')
  const primaryUnderWrites = at('primary read, under writes')
  const freshLsn = at('LSN-routed read, fresh token, under writes')
  const medianRatio = (a: string, b: string) => {
    const ratios = roundP50
      .get(a)!
      .map((p50, i) => p50 / roundP50.get(b)![i]!)
      .sort((x, y) => x - y)
    return round3(quantile(ratios, 0.5))
  }
  const result = {
    benchmark: 'db: LSN-routed reads vs primary reads',
    date: new Date().toISOString(),
    node: process.version,
    postgres: (await raw.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
    concurrency,
    durationMsPerMode: durationMs,
    rounds,
    loadAverageAtEnd: loadavg()[0],
    rows,
    lsnRoutedReadsServedBy: routes,
    /** p50 latency of an LSN-routed read over a plain primary read (1.0 = no overhead). */
    lsnReadOverheadVsPrimary: round3(lsnRouted.p50Ms / primary.p50Ms),
    /** The same, as the median over rounds of the ratio within each round. */
    lsnReadOverheadVsPrimaryMedianOfRounds: medianRatio('LSN-routed read, replayed token', 'primary read'),
    lsnReadThroughputVsPrimary: round3(lsnRouted.opsPerSec / primary.opsPerSec),
    lsnReadOverheadVsReplicaNoCheck: round3(lsnRouted.p50Ms / replica.p50Ms),
    /** The same ratio with a new token per read (writes running): the check is a real round trip. */
    lsnReadOverheadVsPrimaryFreshTokens: round3(freshLsn.p50Ms / primaryUnderWrites.p50Ms),
    lsnReadOverheadVsPrimaryFreshTokensMedianOfRounds: medianRatio(
      'LSN-routed read, fresh token, under writes',
      'primary read, under writes',
    ),
    lsnReadThroughputVsPrimaryFreshTokens: round3(freshLsn.opsPerSec / primaryUnderWrites.opsPerSec),
    writesDuringWriteModes: writes.count,
  }
  console.table(rows)
  console.log(`LSN-routed reads served by: ${JSON.stringify(routes)}`)
  console.log(
    `lsnReadOverheadVsPrimary (p50 ratio) = ${result.lsnReadOverheadVsPrimary} (median of rounds ${result.lsnReadOverheadVsPrimaryMedianOfRounds}); throughput ratio = ${result.lsnReadThroughputVsPrimary}; vs unchecked replica reads = ${result.lsnReadOverheadVsReplicaNoCheck}`,
  )
  console.log(
    `fresh tokens under writes: p50 ratio = ${result.lsnReadOverheadVsPrimaryFreshTokens} (median of rounds ${result.lsnReadOverheadVsPrimaryFreshTokensMedianOfRounds}); throughput ratio = ${result.lsnReadThroughputVsPrimaryFreshTokens}`,
  )
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'db.json')
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  console.log(`wrote ${out}`)
} finally {
  await shards.close()
  await raw.end()
  await server.close()
}

/** `concurrency` workers calling `op` until `ms` pass; returns each call's latency in ms. */
async function run(op: (id: number) => Promise<unknown>, ms: number): Promise<number[]> {
  const latencies: number[] = []
  const deadline = performance.now() + ms
  let next = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const id = (next++ % ROWS) + 1
        const started = performance.now()
        await op(id)
        latencies.push(performance.now() - started)
      }
    }),
  )
  return latencies
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000
}
