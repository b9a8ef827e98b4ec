// `npm run bench -- verify-checker [--ops 3000000] [--anchor-ops 300000]`
// The speed of verify's analysis: a synthetic history of --ops operations (16 clients, 2 instances, 1,000
// products, 5 % writes, a tenth of the reads replica fills carrying LSNs) with violations of every
// history rule planted at known places, fed to the stream checker as verify records it, then analysed into
// the C1-C8 summary. Every planted violation must be found, and nothing else. Goal: >= 100,000 ops/s (Jepsen
// 0.3's checker does about 30,000/s on its list-append workload, a figure cited, not run here). Anchor in the
// same run: the whole-history checker verify used before (resolveDeletes, findStaleReads, three
// findMonotonicViolations scopes) on the first --anchor-ops operations. Writes bench/results/verify-checker.json.
import { writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { analyze } from '../scripts/verify/analyze.js'
import { findMonotonicViolations, findStaleReads, resolveDeletes } from '../scripts/verify/checker.js'
import { History, type Op } from '../scripts/verify/history.js'
import { seededRandom } from '../scripts/verify/rng.js'

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '3000000' },
    'anchor-ops': { type: 'string', default: '300000' },
  },
})
const OPS = Number(values.ops)
const ANCHOR_OPS = Number(values['anchor-ops'])
const GOAL = 100_000
const JEPSEN = 30_000
const KEYS = 1000
const PLANT_EVERY = 50_000

const lsnText = (n: number) => `${Math.floor(n / 2 ** 32).toString(16)}/${(n % 2 ** 32).toString(16)}`

/** What was planted, per rule, to compare with what the checker found. */
const planted = {
  sameInstance: 0,
  crossBeyond: 0,
  monotonic: 0,
  staleSet: 0,
  replicaBehind: 0,
  noLsn: 0,
  resurrection: 0,
}

/**
 * Yields the history in ack order. Regular operations never overlap (each starts after the previous answer),
 * so each read sees the last version: no violation. Every PLANT_EVERY operations, one violation of each kind on
 * keys of its own (above the regular range), so they do not disturb the regular ones.
 */
function* synthetic(n: number): Generator<Op> {
  const random = seededRandom(42)
  const version = new Int32Array(KEYS + 1)
  const lsnOf = new Float64Array(KEYS + 1)
  let lsn = 1e6
  let t = 0
  let plantKey = 100_000
  const instanceOf = (c: number) => (c % 2 === 0 ? 'product-1' : 'product-2')
  for (let i = 0; i < n; i++) {
    t += 0.3
    const client = 1 + Math.floor(random() * 16)
    const instance = random() < 0.7 ? instanceOf(client) : instanceOf(client + 1)
    const key = 1 + Math.floor(random() * KEYS)
    if (random() < 0.05) {
      version[key]!++
      lsn += 100
      lsnOf[key] = lsn
      yield {
        client,
        instance,
        key,
        kind: 'write',
        invoke: t,
        ack: t + 0.2,
        ok: true,
        version: version[key]!,
        lsn: lsnText(lsn),
      }
    } else {
      const roll = random()
      const source = roll < 0.1 ? 'replica' : roll < 0.12 ? 'primary' : roll < 0.7 ? 'l1' : 'l2'
      const read: Op = { client, instance, key, kind: 'read', invoke: t, ack: t + 0.2, ok: true, source }
      if (version[key]! > 0) read.version = version[key]!
      else read.notFound = true
      if (source === 'replica') read.lsn = lsnText(lsnOf[key]! + Math.floor(random() * 50))
      yield read
    }
    if (i % PLANT_EVERY === PLANT_EVERY - 1) yield* plant(t + 0.25, plantKey++)
    if (i % PLANT_EVERY === PLANT_EVERY - 1) t += 0.3
  }

  // Each plant uses fresh keys; times are around `at` (ms); every op is yielded in ack order.
  function* plant(at: number, base: number): Generator<Op> {
    const k = (j: number) => base * 10 + j
    const w = (key: number, v: number, invoke: number, ack: number, inst = 'product-1', l?: number): Op => ({
      client: 90,
      instance: inst,
      key,
      kind: 'write',
      invoke,
      ack,
      ok: true,
      version: v,
      ...(l !== undefined && { lsn: lsnText(l) }),
    })
    const r = (
      key: number,
      v: number | undefined,
      invoke: number,
      inst: string,
      source: Op['source'],
      extra: Partial<Op> = {},
    ): Op => ({
      client: 91,
      instance: inst,
      key,
      kind: 'read',
      invoke,
      ack: invoke + 0.01,
      ok: true,
      source,
      ...(v === undefined ? { notFound: true } : { version: v }),
      ...extra,
    })
    const ops: Op[] = [
      // C1: the writing instance serves the older version after the ack.
      w(k(0), 1, at - 50, at - 49),
      w(k(0), 2, at - 10, at - 9),
      r(k(0), 1, at - 5, 'product-1', 'l1'),
      // C2: another instance, 1.5 s after the ack (outside faults).
      w(k(1), 1, at - 1600, at - 1599),
      w(k(1), 2, at - 1510, at - 1500),
      r(k(1), 1, at, 'product-2', 'l1'),
      // Monotonic: v2 seen while its write was in flight, then v1 on the same instance (not stale: not acked).
      w(k(2), 1, at - 90, at - 89),
      r(k(2), 2, at - 40, 'product-1', 'l2'),
      r(k(2), 1, at - 30, 'product-1', 'l2'),
      w(k(2), 2, at - 45, at + 0.05),
      // C3: a fill of v1 racing the write of v2, served from L2 on the other instance 1.5 s later.
      w(k(3), 1, at - 1700, at - 1690),
      r(k(3), 1, at - 1600, 'product-1', 'replica', { ack: at - 1560, lsn: lsnText(1) }),
      w(k(3), 2, at - 1590, at - 1580, 'product-1'),
      r(k(3), 1, at - 1, 'product-2', 'l2'),
      // C4: a replica fill behind the commit LSN of an acknowledged write, and one carrying no LSN.
      w(k(4), 1, at - 20, at - 19, 'product-1', 5000),
      r(k(4), 1, at - 18, 'product-2', 'replica', { lsn: lsnText(4999) }),
      r(k(4), 1, at - 17, 'product-2', 'replica'),
      // Resurrection: inserted, deleted, seen gone, then found again on the same instance.
      { ...w(k(5), 1, at - 60, at - 59), kind: 'insert' },
      { ...w(k(5), 2, at - 50, at - 49), kind: 'delete' },
      r(k(5), undefined, at - 40, 'product-2', 'l2'),
      r(k(5), 1, at - 30, 'product-2', 'l1'),
    ]
    planted.sameInstance++
    planted.crossBeyond += 2 // the C2 plant and the C3 plant (a stale set is beyond the bound too)
    planted.monotonic++
    planted.staleSet++
    planted.replicaBehind++
    planted.noLsn++
    planted.resurrection++
    yield* ops.sort((a, b) => a.ack - b.ack)
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

// The stream checker, as verify runs it: record each op, then the analysis.
// Generated in chunks outside the clock (the history's making is the workload's cost, not the checker's).
const history = new History()
history.origin = 0
let streamMs = 0
let streamCpuMs = 0
let count = 0
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const chunk: Op[] = []
const feed = () => {
  const began = performance.now()
  const cpuBegan = cpu()
  for (const op of chunk) history.record(op)
  streamMs += performance.now() - began
  streamCpuMs += cpu() - cpuBegan
  count += chunk.length
  chunk.length = 0
}
for (const op of synthetic(OPS)) if (chunk.push(op) >= 100_000) feed()
feed()
const analysisBegan = performance.now()
const analysisCpu = cpu()
const result = analyze(history, { durationS: 0, faults: [], seed: 42, clients: 16, instances: 2 })
streamMs += performance.now() - analysisBegan
streamCpuMs += cpu() - analysisCpu
const streamOps = (count / streamMs) * 1000
// On a shared machine the wall clock counts other processes' turns; CPU time is this process's own work.
const streamCpuOps = (count / streamCpuMs) * 1000

const found = {
  sameInstance: result.stale.agePerPath['same-instance']!.count,
  crossBeyond: result.stale.beyondBoundFaultFree,
  monotonic: result.monotonic.instance - planted.resurrection,
  staleSet: result.c3.staleSets,
  replicaBehind: result.c4.behind,
  noLsn: result.c4.withoutLsn,
  resurrection: result.resurrections,
}
// What the stream checker holds after the whole history (writes, findings, the last 15 s of reads per scope),
// after a full collection so garbage is not counted.
setFlagsFromString('--expose-gc')
runInNewContext('gc')()
const heapAfterStreamMb = Math.round(process.memoryUsage().heapUsed / 1e6)
// The anchor's pass below plants again: keep what the stream checker's history held.
const plantedInStream = { ...planted }
const allFound = Object.entries(plantedInStream).every(([k, v]) => found[k as keyof typeof found] === v)

// Anchor: the whole-history checker on a prefix (it keeps every op and scans each key's writes per read).
const prefix: Op[] = []
for (const op of synthetic(ANCHOR_OPS)) prefix.push(op)
const anchorBegan = performance.now()
const anchorCpu = cpu()
const resolved = resolveDeletes(prefix)
findStaleReads(resolved)
for (const scope of ['instance', 'client-instance', 'client'] as const)
  findMonotonicViolations(resolved, scope)
const anchorMs = performance.now() - anchorBegan
const anchorOps = (prefix.length / anchorMs) * 1000
const anchorCpuOps = (prefix.length / (cpu() - anchorCpu)) * 1000

const results = {
  ops: count,
  streamMs: Math.round(streamMs),
  opsPerS: Math.round(streamOps),
  opsPerCpuS: Math.round(streamCpuOps),
  goalOpsPerS: GOAL,
  ratioToGoal: Math.round((streamOps / GOAL) * 100) / 100,
  ratioToJepsenCited: Math.round((streamOps / JEPSEN) * 100) / 100,
  anchor: {
    what: 'whole-history checker',
    ops: prefix.length,
    opsPerS: Math.round(anchorOps),
    opsPerCpuS: Math.round(anchorCpuOps),
  },
  ratioToAnchor: Math.round((streamOps / anchorOps) * 100) / 100,
  planted: plantedInStream,
  found,
  allFound,
  heapAfterStreamMb,
  loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
}
writeFileSync(
  join(dirname(fileURLToPath(import.meta.url)), 'results', 'verify-checker.json'),
  `${JSON.stringify(results, null, 2)}\n`,
)
console.log(
  [
    `verify checker on ${fmt(count)} synthetic ops (load average ${results.loadavg.join(' ')})`,
    '| measure | concord | anchor | ratio | goal |',
    '|---|---|---|---|---|',
    `| stream checker + analysis, ops/s | ${fmt(streamOps)} | goal ${fmt(GOAL)} | ${results.ratioToGoal}x | >= 1x |`,
    `| same, ops per CPU second | ${fmt(streamCpuOps)} | whole-history checker ${fmt(anchorCpuOps)} | ${Math.round((streamCpuOps / anchorCpuOps) * 100) / 100}x | |`,
    `| stream checker + analysis, ops/s | ${fmt(streamOps)} | whole-history checker ${fmt(anchorOps)} (${fmt(prefix.length)} ops) | ${results.ratioToAnchor}x | |`,
    `| stream checker + analysis, ops/s | ${fmt(streamOps)} | Jepsen 0.3 list-append, cited ${fmt(JEPSEN)} | ${results.ratioToJepsenCited}x | |`,
    `planted ${JSON.stringify(plantedInStream)}`,
    `found   ${JSON.stringify(found)}`,
    `heap after the stream checker: ${heapAfterStreamMb} MB (${fmt(history.ops.length)} writes kept)`,
    allFound ? 'every planted violation found, nothing else' : 'MISMATCH: planted and found differ',
  ].join('\n'),
)
if (!allFound) process.exitCode = 1
