// `npm run bench -- outbox [--events 50000] [--naive-events 5000] [--rate 1000] [--seconds 10]`
// concord's relay against what bounds it and against the naive poller (poll every second; in one transaction
// lock rows, publish each and wait for the broker, mark PROCESSED or FAILED), in one run on the same private
// PostgreSQL and NATS JetStream.
// 0. The limit: the broker's own asynchronous publish rate (the official client's `js.publish`, 1,024 in flight,
//    no order kept) and a batch claim's rate (one DELETE ... RETURNING of the 1,000 lowest rows per statement,
//    as many loops as the relay: no order per aggregate, no lease). The relay does both, so it cannot be faster
//    than the slower of the two; it is reported as a ratio to that.
// 1. Throughput: a backlog of N events over 1,000 aggregates, drained by each; events per second.
// 2. Latency: writers commit 1,000 events/s (one transaction each); commit -> broker ack, p50/p99, beside the
//    p99 of the two single hops it crosses at least once each (a PostgreSQL round trip, a JetStream publish).
// A NATS consumer receives every event concord publishes: `lost` and `outOfOrder` (per aggregate) come from it.
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { jetstream } from '@nats-io/jetstream'
import { connect, createInbox, headers } from '@nats-io/transport-node'
import { type EventEnvelope, newEventId } from 'concord/broker'
import { createShards } from 'concord/db'
import { createNatsBroker } from 'concord/nats'
import { createOutbox, createRelay, outboxMigrations } from 'concord/outbox'
import { createPgNode } from 'concord/pg'
import { startNats } from '../test/support/services/nats.js'
import { startPostgres } from '../test/support/services/postgres.js'
import type { WriterInput, WriterReport } from './_outbox-writer.js'

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '50000' },
    'naive-events': { type: 'string', default: '5000' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    aggregates: { type: 'string', default: '1000' },
  },
})
const N = Number(values.events)
const NAIVE_N = Number(values['naive-events'])
const RATE = Number(values.rate)
const SECONDS = Number(values.seconds)
const AGGREGATES = Number(values.aggregates)

// Relay settings of each phase (the rest are createRelay's defaults). Four loops on one shard take 64 aggregates
// each (runs of up to 16 events): with the default 256 each, every claim stepped over the heads the three other
// loops held, and PostgreSQL spent three times the CPU per event.
const THROUGHPUT_RELAY = { concurrency: 4, aggregatesPerClaim: 64 }
const LATENCY_RELAY = { concurrency: 2 }

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0
const round = (x: number) => Math.round(x * 100) / 100

const loadAtStart = loadavg()
console.log(`load average at start: ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}`)
const pgServer = await startPostgres({ replica: false })
const nats = await startNats()
const db = await pgServer.createDatabase('bench_outbox')
// Writers and relays have their own pools, as they would in their own processes: a relay's claim must not
// queue behind the writers' transactions.
// A writer waits for a pool connection rather than failing after the default 5 s: on a busy machine the
// open-loop writers can queue up, and a failed write would leave a hole in the latency sample (a slow write
// shows as a lower achievedRate instead).
const shards = createShards({
  shards: [{ primary: createPgNode({ connectionString: db.primaryUrl, max: 16, connectTimeout: '120s' }) }],
})
const relayShards = createShards({
  shards: [{ primary: createPgNode({ connectionString: db.primaryUrl, max: 8 }) }],
})
const broker = createNatsBroker({ servers: nats.url, prefix: 'bench' })
const outbox = createOutbox()

const event = (a: number, v: number) => ({
  aggregateType: 'order',
  aggregateId: `o${a}`,
  aggregateVersion: v,
  type: 'order.changed',
  payload: { amount: v * 10, note: 'benchmark event of a realistic size, with a few fields' },
})

try {
  await shards.migrate(outboxMigrations)
  await shards.onShard(0, async (tx) => {
    await tx.query('CREATE TABLE bench_aggregates (id text PRIMARY KEY, version int NOT NULL)')
    await tx.query(
      `INSERT INTO bench_aggregates SELECT 'o' || g, 0 FROM generate_series(${AGGREGATES}, ${AGGREGATES + 99}) g`,
    )
  })
  await shards.onShard(0, (tx) =>
    tx.query(`CREATE TABLE naive_outbox (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'NEW',
      topic text NOT NULL, event json NOT NULL)`),
  )

  // A backlog of N events over AGGREGATES aggregates, written as the application would (outbox.add).
  const writeBacklog = async (): Promise<string[]> => {
    const ids: string[] = []
    const perAggregate = Math.ceil(N / AGGREGATES)
    for (let v = 1, n = 0; v <= perAggregate && n < N; v++) {
      for (let a = 0; a < AGGREGATES && n < N; a += 500) {
        const batch: ReturnType<typeof event>[] = []
        for (let i = a; i < Math.min(a + 500, AGGREGATES) && n < N; i++, n++) batch.push(event(i, v))
        const { result } = await shards.onShard(0, (tx) => outbox.add(tx, batch))
        ids.push(...result.map((e) => e.id))
      }
    }
    return ids
  }

  // The relay's backlog; the claim anchor takes a copy of it (same rows, same indexes, same server), so the
  // relay's table is not left with the anchor's dead rows.
  const written = await writeBacklog()
  await relayShards.execute(0, 'CREATE TABLE bench_claim (LIKE concord_outbox INCLUDING ALL)')
  await relayShards.execute(0, 'INSERT INTO bench_claim OVERRIDING SYSTEM VALUE SELECT * FROM concord_outbox')

  // ---- 0. the limit: a batch claim, and the broker's own asynchronous publish ----
  let claimedRows = 0
  const c0 = performance.now()
  await Promise.all(
    Array.from({ length: THROUGHPUT_RELAY.concurrency }, async () => {
      for (;;) {
        const { rows } = await relayShards.execute(
          0,
          `DELETE FROM bench_claim WHERE seq IN (SELECT seq FROM bench_claim WHERE status = 'pending'
             ORDER BY seq LIMIT 1000 FOR UPDATE SKIP LOCKED) RETURNING *`,
        )
        if (rows.length === 0) return
        claimedRows += rows.length
      }
    }),
  )
  const claimEventsPerSec = Math.round(claimedRows / ((performance.now() - c0) / 1000))
  console.log(`limit: batch claim (DELETE ... RETURNING, 1,000 rows each): ${claimEventsPerSec}/s`)

  // The stream as concord creates it (file storage, dedup window); bodies as the relay sends them.
  await broker.publish('limit', [
    { ...event(0, 1), id: newEventId(), headers: {}, createdAt: new Date().toISOString() },
  ])
  const limitNc = await connect({ servers: nats.url, noAsyncTraces: true })
  const js = jetstream(limitNc, { timeout: 2_000 })
  const encoder = new TextEncoder()
  const body = (i: number, id: string) =>
    encoder.encode(
      JSON.stringify({
        ...event(i % AGGREGATES, 1 + Math.floor(i / AGGREGATES)),
        id,
        headers: { 'concord-lsn': '0/2A4B6C8', 'concord-shard': '0' },
        createdAt: new Date().toISOString(),
      }),
    )
  // (a) The official client's js.publish (a request per message), 1,024 in flight.
  let sent = 0
  let t = performance.now()
  await Promise.all(
    Array.from({ length: 1024 }, async () => {
      while (sent < N) {
        const i = sent++
        const id = newEventId()
        await js.publish(`bench.limit.order.o${i % AGGREGATES}`, body(i, id), { msgID: id })
      }
    }),
  )
  const jsPublishEventsPerSec = Math.round(N / ((performance.now() - t) / 1000))
  // (b) Asynchronous publish as the Go client's PublishAsync does it: each message names a reply subject under
  // one wildcard subscription, which receives the PubAcks; up to 1,024 unacknowledged.
  const inbox = createInbox()
  let acked = 0
  let refused = 0
  let unacked = 0
  let wakeSender: (() => void) | undefined
  limitNc.subscribe(`${inbox}.*`, {
    callback: (_error, msg) => {
      if (msg.data.length === 0 || msg.json<{ error?: unknown }>().error) refused++
      acked++
      unacked--
      wakeSender?.()
    },
  })
  t = performance.now()
  for (let i = 0; i < N; i++) {
    while (unacked >= 1024) await new Promise<void>((resolve) => (wakeSender = resolve))
    const id = newEventId()
    const h = headers()
    h.set('Nats-Msg-Id', id)
    limitNc.publish(`bench.limit.order.o${i % AGGREGATES}`, body(i, id), {
      reply: `${inbox}.${i}`,
      headers: h,
    })
    unacked++
    // Let the client write what it holds, as an application publishing from its own loop would.
    if (i % 256 === 255) await new Promise((resolve) => setImmediate(resolve))
  }
  const ackDeadline = Date.now() + 30_000
  while (acked < N && Date.now() < ackDeadline) {
    await new Promise<void>((resolve) => {
      wakeSender = resolve
      setTimeout(resolve, 100)
    })
  }
  if (acked < N || refused > 0)
    throw new Error(`async publish anchor: ${acked} of ${N} acked, ${refused} refused`)
  const asyncPublishEventsPerSec = Math.round(N / ((performance.now() - t) / 1000))
  await limitNc.close()
  const publishEventsPerSec = Math.max(jsPublishEventsPerSec, asyncPublishEventsPerSec)
  console.log(
    `limit: JetStream publish, 1,024 in flight: js.publish ${jsPublishEventsPerSec}/s, async (reply subjects) ${asyncPublishEventsPerSec}/s`,
  )
  const limitEventsPerSec = Math.min(claimEventsPerSec, publishEventsPerSec)

  // ---- 1. throughput: concord's relay ----
  let published = 0
  const relay = createRelay({
    shards: relayShards,
    broker,
    ...THROUGHPUT_RELAY,
    onPublished: (es) => {
      published += es.length
    },
  })
  const t0 = performance.now()
  await relay.start()
  while (published < N) await sleep(5)
  const relaySeconds = (performance.now() - t0) / 1000
  const relayEventsPerSec = Math.round(N / relaySeconds)
  console.log(`relay: ${N} events in ${relaySeconds.toFixed(2)} s = ${relayEventsPerSec}/s`)

  // The consumer (started after the throughput run, so it does not compete with the relay for the two
  // cores; it reads the stream from its start): every event concord published, for lost and outOfOrder.
  // Ids only: this thread is also the relay's, and 50k kept envelopes made its collections slower.
  const received = new Set<string>()
  const lastVersion = new Map<string, number>()
  let outOfOrder = 0
  const handle = async (e: EventEnvelope) => {
    if (received.has(e.id)) return
    received.add(e.id)
    const prev = lastVersion.get(e.aggregateId) ?? 0
    if (e.aggregateVersion <= prev) outOfOrder++
    lastVersion.set(e.aggregateId, e.aggregateVersion)
  }
  const sub = await broker.subscribe('order', 'bench-check', handle, { concurrency: 64, maxInFlight: 900 })

  while (received.size < N) await sleep(50)
  // The durable consumer resumes here after the latency phase: the relay's process only publishes meanwhile.
  await sub.close()

  await relay.close()
  const publishedAt = new Map<string, number>()
  let republished = 0
  const latencyRelay = createRelay({
    shards: relayShards,
    broker,
    ...LATENCY_RELAY,
    onPublished: (es) => {
      const at = performance.timeOrigin + performance.now()
      // The first acknowledgement is when the event reached the broker; a later one is a republish (counted).
      for (const e of es) {
        if (publishedAt.has(e.id)) republished++
        else publishedAt.set(e.id, at)
      }
    },
  })
  await latencyRelay.start()
  // A worker does not inherit tsx's loader: register it there, then load the TypeScript module.
  const writerModule = new URL('./_outbox-writer.ts', import.meta.url).href
  const writer = new Worker(
    `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(writerModule)}) })`,
    {
      eval: true,
      workerData: {
        url: db.primaryUrl,
        rate: RATE,
        seconds: SECONDS,
        first: AGGREGATES,
        count: 100,
      } satisfies WriterInput,
    },
  )
  // Anchors in the same run: one round trip to PostgreSQL and one JetStream publish, every 5 ms, from the relay's
  // thread. A commit reaches the broker through at least a NOTIFY, a claim and a publish, so on a loaded machine
  // the relay's tail cannot be shorter than these two tails.
  let probing = true
  const pgRoundTrips: number[] = []
  const natsPublishes: number[] = []
  const probe = (async () => {
    for (let n = 1; probing; n++) {
      let t = performance.now()
      await relayShards.execute(0, 'SELECT 1')
      pgRoundTrips.push(performance.now() - t)
      t = performance.now()
      await broker.publish('probe', [
        {
          ...event(0, n),
          aggregateType: 'probe',
          id: newEventId(),
          headers: {},
          createdAt: new Date().toISOString(),
        },
      ])
      natsPublishes.push(performance.now() - t)
      await sleep(5)
    }
  })()
  const report = await new Promise<WriterReport>((resolve, reject) => {
    writer.once('message', resolve)
    writer.once('error', reject)
    writer.once('exit', (code) => reject(new Error(`writer worker exited with ${code}`)))
  })
  await writer.terminate()
  probing = false
  await probe
  pgRoundTrips.sort((a, b) => a - b)
  natsPublishes.sort((a, b) => a - b)
  const { writeErrors, firstWriteError, achievedRate } = report
  const waitUntil = Date.now() + 30_000
  while (report.committed.some(([id]) => !publishedAt.has(id)) && Date.now() < waitUntil) await sleep(10)
  await latencyRelay.close()
  const { claims, emptyClaims, brokerUnavailable, loopErrors, failedAttempts } = latencyRelay.stats()
  console.log(
    `  latency phase: ${claims} claims, ${emptyClaims} of them empty; broker unavailable ${brokerUnavailable}, loop errors ${loopErrors}, failed attempts ${failedAttempts}, republished ${republished}`,
  )
  const latencies: number[] = []
  for (const [id, committedAt] of report.committed) {
    written.push(id)
    const at = publishedAt.get(id)
    // Published before the writer saw its COMMIT return: zero.
    if (at !== undefined) latencies.push(Math.max(0, at - committedAt))
  }
  latencies.sort((a, b) => a - b)
  console.log(
    `latency at ${achievedRate}/s: p50 ${pct(latencies, 50).toFixed(2)} ms, p99 ${pct(latencies, 99).toFixed(2)} ms`,
  )
  console.log(
    `  writers' transactions (first statement to commit): p99 ${report.transactionP99Ms.toFixed(2)} ms, max ${report.transactionMaxMs.toFixed(2)} ms`,
  )
  console.log(
    `  anchors: PostgreSQL round trip p99 ${pct(pgRoundTrips, 99).toFixed(2)} ms, JetStream publish p99 ${pct(natsPublishes, 99).toFixed(2)} ms`,
  )

  const check = await broker.subscribe('order', 'bench-check', handle, { concurrency: 64, maxInFlight: 900 })
  const deadline = Date.now() + 60_000
  while (received.size < written.length && Date.now() < deadline) await sleep(50)
  const lost = written.filter((id) => !received.has(id)).length
  await check.close()

  // ---- 3. the naive poller, same PostgreSQL and NATS ----
  for (let i = 0; i < NAIVE_N; i += 500) {
    const rows: string[] = []
    for (let j = i; j < Math.min(i + 500, NAIVE_N); j++) {
      const e = event(j % AGGREGATES, 2_000_000 + j)
      rows.push(
        JSON.stringify({ ...e, id: crypto.randomUUID(), headers: {}, createdAt: new Date().toISOString() }),
      )
    }
    await shards.onShard(0, (tx) =>
      tx.query(`INSERT INTO naive_outbox (topic, event) SELECT 'naive', e::json FROM unnest($1::text[]) e`, [
        rows,
      ]),
    )
  }
  let naiveDone = 0
  const n0 = performance.now()
  while (naiveDone < NAIVE_N) {
    const { result: handled } = await shards.onShard(0, async (tx) => {
      const { rows } = await tx.query<{ id: string; topic: string; event: EventEnvelope }>(
        `SELECT id, topic, event FROM naive_outbox WHERE status = 'NEW' ORDER BY id LIMIT 100 FOR UPDATE`,
      )
      for (const row of rows) {
        try {
          await broker.publish(row.topic, [row.event]) // waits on the broker with the rows locked
          await tx.query(`UPDATE naive_outbox SET status = 'PROCESSED' WHERE id = $1`, [row.id])
        } catch {
          await tx.query(`UPDATE naive_outbox SET status = 'FAILED' WHERE id = $1`, [row.id])
        }
      }
      return rows.length
    })
    naiveDone += handled
    if (handled === 0) await sleep(1000)
  }
  const naiveEventsPerSec = Math.round(NAIVE_N / ((performance.now() - n0) / 1000))
  console.log(`naive poller: ${NAIVE_N} events at ${naiveEventsPerSec}/s`)

  const loadAtEnd = loadavg()
  const anchorsP99 = pct(pgRoundTrips, 99) + pct(natsPublishes, 99)
  const ratios = {
    relayVsLimit: round(relayEventsPerSec / limitEventsPerSec),
    relayVsPublish: round(relayEventsPerSec / publishEventsPerSec),
    relayVsClaim: round(relayEventsPerSec / claimEventsPerSec),
    relayVsNaive: round(relayEventsPerSec / naiveEventsPerSec),
    // The relay's p99 over the sum of the two anchor tails it must cross at least once each.
    commitToPublishP99VsAnchors: round(pct(latencies, 99) / anchorsP99),
  }
  const result = {
    benchmark: 'outbox',
    ratios,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, node: process.version },
    setup: {
      postgres: 'private PostgreSQL 15 primary (harness)',
      broker: 'private nats-server JetStream (harness), concord createNatsBroker',
      backlogEvents: N,
      naiveBacklogEvents: NAIVE_N,
      aggregates: AGGREGATES,
      relay: { throughput: THROUGHPUT_RELAY, latency: LATENCY_RELAY, otherwise: 'createRelay defaults' },
      latency: {
        targetRate: RATE,
        achievedRate,
        seconds: SECONDS,
        transactionsPerEvent: 1,
        writers: 'a worker thread with its own event loop and pool (16), as an application process would be',
        writeErrors,
        transactionP99Ms: round(report.transactionP99Ms),
        transactionMaxMs: round(report.transactionMaxMs),
        ...(firstWriteError === undefined ? {} : { firstWriteError }),
      },
      loadAverage: { atStart: loadAtStart, atEnd: loadAtEnd },
    },
    relayEventsPerSec,
    limitEventsPerSec,
    publishEventsPerSec,
    jsPublishEventsPerSec,
    asyncPublishEventsPerSec,
    claimEventsPerSec,
    naiveEventsPerSec,
    commitToPublishP50Ms: round(pct(latencies, 50)),
    commitToPublishP99Ms: round(pct(latencies, 99)),
    commitToPublishMaxMs: round(latencies[latencies.length - 1] ?? 0),
    latencyPhaseClaims: claims,
    latencyPhaseEmptyClaims: emptyClaims,
    latencyPhaseTrouble: { brokerUnavailable, loopErrors, failedAttempts, republished },
    anchorPgRoundTripP50Ms: round(pct(pgRoundTrips, 50)),
    anchorPgRoundTripP99Ms: round(pct(pgRoundTrips, 99)),
    anchorNatsPublishP50Ms: round(pct(natsPublishes, 50)),
    anchorNatsPublishP99Ms: round(pct(natsPublishes, 99)),
    lost,
    outOfOrder,
    targets: {
      relayVsLimit: 0.5,
      relayEventsPerSec: 25_000,
      commitToPublishP99VsAnchors: 1.5,
      lost: 0,
      outOfOrder: 0,
    },
  }
  const f = (x: number) => x.toLocaleString('en-US')
  console.log(`
outbox: relay ${ratios.relayVsLimit}x its limit (target >= 0.5x): ${ratios.relayVsPublish}x JetStream's own async publish, ${ratios.relayVsClaim}x a batch claim; ${ratios.relayVsNaive}x the naive poller
        commit-to-publish p99 ${ratios.commitToPublishP99VsAnchors}x the sum of the single-hop anchors' p99 (target <= 1.5x)
        relay ${f(relayEventsPerSec)}/s (target >= 25,000); publish ${f(publishEventsPerSec)}/s, claim ${f(claimEventsPerSec)}/s, naive ${f(naiveEventsPerSec)}/s
        p99 ${pct(latencies, 99).toFixed(2)} ms (p50 ${pct(latencies, 50).toFixed(2)} ms) at ${achievedRate} tx/s; anchors p99 ${pct(pgRoundTrips, 99).toFixed(2)} + ${pct(natsPublishes, 99).toFixed(2)} ms
        lost ${lost}, out of order ${outOfOrder}
        load average: start ${loadAtStart.map((x) => x.toFixed(2)).join(' ')}, end ${loadAtEnd.map((x) => x.toFixed(2)).join(' ')}`)
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'outbox.json')
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  console.log(`wrote ${out}`)
} finally {
  await broker.close()
  await shards.close()
  await relayShards.close()
  await nats.close()
  await pgServer.close()
}
