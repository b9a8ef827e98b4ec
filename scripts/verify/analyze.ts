import { upperBound95 } from './bound.js'
import {
  type Bounds,
  type ConvergenceReport,
  convergenceReport,
  DEFAULT_BOUNDS,
  findResurrections,
  type HealReport,
  healReport,
  type MonotonicViolation,
  pathFamily,
  type StaleRead,
} from './checker.js'
import type { CheckerPhase } from './checker-phase.js'
import type { FaultWindow, History, Op } from './history.js'
import type { Invariants } from './invariants.js'
import type { CopyBehind, Quiescence } from './quiescence.js'
import { type Summary, summarize } from './stats.js'
import { evaluateTargets, type Target } from './targets.js'

/** The contract's clauses (docs/contract.md), each with its verdict in the summary. */
export const CLAUSES = {
  C1: 'read-your-writes on the writing instance',
  C2: 'bounded cross-instance staleness',
  C3: 'no stale set',
  C4: 'replica-safe fills',
  C5: 'outbox: every change published once in effect',
  C6: 'sagas end terminal',
  C7: 'projections converge, never regress',
  C8: 'the checker finds and repairs',
} as const
export type Clause = keyof typeof CLAUSES

/** One broken rule of the contract: the exit status is non-zero when there is any. */
export interface Violation {
  clause: Clause
  rule: string
  count: number
  example?: string
}

/** One clause's line of the summary: passed, failed (with how many violations), or not checked in this run. */
export interface ClauseVerdict {
  clause: Clause
  name: string
  verdict: 'pass' | 'fail' | 'not checked'
  violations: number
  /** What the rules of this clause looked at. */
  checked: string
}

/** What the final phases found (absent: that phase did not run or failed; its clauses are not checked). */
export interface Finals {
  invariants?: Invariants
  quiescence?: Quiescence
  checker?: CheckerPhase
  /** Why a phase could not run. */
  errors?: string[]
}

/** Everything `verify-report.json` holds. */
export interface VerifyResult {
  run: {
    durationS: number
    faults: string[]
    seed: number
    clients: number
    instances: number
    rate?: 'max' | number
    /** How long the load actually ran (longer than asked when late heals shifted faults). */
    loadS?: number
  }
  /** The summary: each clause C1-C8, its verdict and count; the exit status follows it. */
  clauses: ClauseVerdict[]
  counts: {
    reads: number
    writes: number
    inserts: number
    deletes: number
    failed: number
    qualifyingReads: number
    /** Qualifying reads outside fault windows and their grace period: the stale-rate denominator. */
    qualifyingFaultFree: number
    /** Qualifying reads per second of load. */
    qualifyingPerS?: number
    readSources: Record<string, number>
  }
  stale: {
    /** Reads older than a write acknowledged before they began (no bound subtracted). */
    total: number
    /** Of those, beyond the promised bound (0 on the writing instance, 1 s elsewhere), outside faults. */
    beyondBoundFaultFree: number
    rateFaultFree: number
    /** One-sided 95 % upper confidence bound of that rate (3 / n with no event). */
    rateUpper95: number
    underFault: number
    /** Staleness age (ms) per path, of the stale reads; the probed paths give their convergence time. */
    agePerPath: Record<string, Summary>
  }
  ryw: number
  /** Reads of a deleted product that found it again (see findResurrections). */
  resurrections: number
  monotonic: { instance: number; clientInstance: number; clientCrossInstance: number }
  /** C3: stale cache reads brought by a fill that raced the newer write; copies behind after quiescence. */
  c3: { staleSets: number; quiescence?: Quiescence }
  /** C4: replica-served fills, those without an LSN, those behind an acknowledged write (outside/under faults). */
  c4: { replicaFills: number; withoutLsn: number; behind: number; behindUnderFault: number }
  /** C8: the injected divergences and what the checker did with them. */
  c8?: CheckerPhase
  convergence: ConvergenceReport
  heals: HealReport & { perFault: { fault: string; endS: number; ms?: number; keys: number }[] }
  faults: (FaultWindow & { startS: number; endS: number })[]
  invariants?: Invariants
  /** (seconds since the start, staleness ms, kind) for the plot. */
  series: [number, number, string][]
  violations: Violation[]
  /** The issue's targets, measured (they do not set the exit status). */
  targets: Target[]
  notes: string[]
}

const describeOp = (op: Op) =>
  `client ${op.client} ${op.kind} product ${op.key} on ${op.instance} ${op.notFound ? '404' : `v${op.version ?? '?'}`}` +
  `${op.source ? ` from ${op.source}` : ''}${op.lsn ? ` at ${op.lsn}` : ''} ` +
  `[${op.invoke.toFixed(1)}, ${op.ack.toFixed(1)}] ms`
const describeStale = (s: StaleRead) =>
  `${describeOp(s.read)} after ${describeOp(s.write)} (age ${s.ageMs.toFixed(1)} ms)`
const describeMono = (m: MonotonicViolation) => `${describeOp(m.later)} after ${describeOp(m.earlier)}`

/**
 * Turns the history (checked as it was recorded) and the final phases into the report: the violations of
 * C1-C8, each under its clause, and the clause summary that sets the exit status.
 */
export function analyze(
  history: History,
  run: VerifyResult['run'],
  finals: Finals = {},
  bounds: Bounds = DEFAULT_BOUNDS,
): VerifyResult {
  const s = history.stream
  const { stale } = s
  const ryw = stale.filter((x) => x.path === 'same-instance' && x.ownWrite && isOwnOnInstance(history, x))
  const sameInstance = stale.filter((x) => x.path === 'same-instance')
  const cross = stale.filter((x) => x.path === 'cross-instance')
  const beyond = cross.filter((x) => x.ageMs > bounds.crossInstanceMs && !x.underFault)
  const tooOld = stale.filter((x) => x.ageMs > bounds.convergenceMs)
  const mono = {
    instance: s.monotonic.instance,
    clientInstance: s.monotonic['client-instance'],
    clientCross: s.monotonic.client,
  }
  const resurrections = findResurrections(
    stale,
    [...mono.instance, ...mono.clientInstance, ...mono.clientCross],
    bounds,
  )
  const convergence = convergenceReport(history.convergence)
  const heals = healReport(history.heals)

  const agePerPath: Record<string, Summary> = {
    'same-instance': summarize(sameInstance.map((x) => x.ageMs)),
    'cross-instance': summarize(cross.map((x) => x.ageMs)),
  }
  const probed = new Map<string, number[]>()
  for (const c of history.convergence) {
    for (const [path, ms] of Object.entries(c.paths)) {
      const family = pathFamily(path)
      if ((family === 'order-cache' || family === 'search') && ms !== undefined)
        probed.set(family, [...(probed.get(family) ?? []), ms])
    }
  }
  agePerPath['order-cache (probe)'] = summarize(probed.get('order-cache') ?? [])
  agePerPath['search (probe)'] = summarize(probed.get('search') ?? [])

  const violations: Violation[] = []
  const add = <T>(clause: Clause, rule: string, items: readonly T[], show: (x: T) => string) => {
    if (items.length > 0) violations.push({ clause, rule, count: items.length, example: show(items[0]!) })
  }
  const count = (clause: Clause, rule: string, n: number, example?: string) => {
    if (n > 0) violations.push({ clause, rule, count: n, example })
  }
  add('C1', 'read-your-writes (own write, same instance)', ryw, describeStale)
  add('C1', 'stale read on the writing instance', sameInstance, describeStale)
  add('C2', 'resurrection: a deleted product read back', resurrections, describeOp)
  add('C2', 'monotonic reads per instance', mono.instance, describeMono)
  add('C2', 'monotonic reads per client and instance', mono.clientInstance, describeMono)
  add('C2', 'cross-instance stale read beyond 1 s outside faults', beyond, describeStale)
  add('C2', 'staleness beyond 10 s', tooOld, describeStale)
  const neverCache = history.convergence.filter((c) =>
    Object.entries(c.paths).some(([p, ms]) => ms === undefined && pathFamily(p).startsWith('product')),
  )
  const neverProjection = history.convergence.filter((c) =>
    Object.entries(c.paths).some(([p, ms]) => ms === undefined && !pathFamily(p).startsWith('product')),
  )
  count('C2', 'write not converged in every product cache within 10 s', neverCache.length)
  count('C7', 'write not converged in the order cache and search within 10 s', neverProjection.length)
  if (heals.never > 0 || (heals.max ?? 0) > bounds.convergenceMs)
    count('C2', 'convergence after a heal beyond 10 s', heals.never || 1)
  add(
    'C3',
    'stale set: a cached value from a fill that raced the newer write',
    s.staleSets,
    (x) => `${describeStale(x.stale)}; filled by ${describeOp(x.fill)}`,
  )
  const q = finals.quiescence
  const describeBehind = (b: CopyBehind) =>
    `product ${b.key} ${b.path} holds v${b.copyVersion}, source ${b.sourceVersion === undefined ? 'gone' : `v${b.sourceVersion}`}`
  if (q) {
    // The product service's own caches are C3's; the order service's copy is another service's cache (C7).
    const ordersCopy = (b: CopyBehind) => b.path.startsWith('order')
    const own = q.behind.filter((b) => !ordersCopy(b))
    add('C3', 'product cache not at the source version after quiescence', own, describeBehind)
    add(
      'C7',
      'order cache not at the source version after quiescence',
      q.behind.filter(ordersCopy),
      describeBehind,
    )
  }
  add('C4', 'replica fill without the LSN it read at', s.replicaWithoutLsn, describeOp)
  const behind = s.replicaBehind.filter((b) => !b.underFault)
  add(
    'C4',
    'replica fill older than an acknowledged write',
    behind,
    (b) => `${describeOp(b.read)} after ${describeOp(b.write)}`,
  )
  const inv = finals.invariants
  if (inv) {
    count('C5', 'lost effects (stock/points)', inv.lostEffects, inv.unbalanced[0])
    count('C5', 'duplicated effects (stock/points)', inv.duplicatedEffects, inv.unbalanced[0])
    count('C5', 'acknowledged order not in that state in the database', inv.ackMismatches)
    count('C5', 'search projection behind the primary after settling (a lost event)', inv.projectionBehind)
    count('C6', 'orders not terminal', inv.nonTerminalOrders)
    count('C6', 'sagas not terminal', inv.nonTerminalSagas, JSON.stringify(inv.sagas))
    count('C7', 'deleted product live again in search after settling', inv.searchRevived)
  }
  const c8 = finals.checker
  if (c8) {
    add(
      'C8',
      'injected divergence not found by the checker',
      c8.missed,
      (i) => `product ${i.key} in ${i.copy}`,
    )
    count('C8', 'injected divergence found but not repaired', c8.found - c8.repaired)
    count('C8', 'injected divergence still there after the repair', c8.stillThere)
    count('C8', 'checker pass longer than its schedule period', c8.durationMs > c8.scheduleMs ? 1 : 0)
  }

  const checked: Record<Clause, string | undefined> = {
    C1: `${s.counts.qualifying} qualifying reads`,
    C2: `${s.counts.qualifying} qualifying reads, ${convergence.writes} writes probed, ${heals.heals} heals`,
    C3: q
      ? `${s.counts.reads} reads; ${q.held} cached copies of ${q.keys} products after quiescence`
      : undefined,
    C4: `${s.counts.replicaFills} replica fills of written products`,
    C5: inv ? `${inv.orders.placed} orders, every product and member balance` : undefined,
    C6: inv ? `${inv.orders.placed} orders, sagas ${JSON.stringify(inv.sagas)}` : undefined,
    C7: inv ? `${convergence.writes} writes probed, search after settling` : undefined,
    C8: c8
      ? `${c8.injected.length} divergences injected, ${c8.keys} keys checked in ${c8.durationMs} ms`
      : undefined,
  }
  const clauses: ClauseVerdict[] = (Object.keys(CLAUSES) as Clause[]).map((clause) => {
    const n = violations.filter((v) => v.clause === clause).reduce((sum, v) => sum + v.count, 0)
    return {
      clause,
      name: CLAUSES[clause],
      verdict: checked[clause] === undefined ? 'not checked' : n > 0 ? 'fail' : 'pass',
      violations: n,
      checked:
        checked[clause] ?? `not checked: ${(finals.errors ?? []).join('; ') || 'its phase did not run'}`,
    }
  })

  const t = (ms: number) => Math.round(((ms - history.origin) / 1000) * 1000) / 1000
  const series: VerifyResult['series'] = [
    ...stale.map(
      (x) => [t(x.read.invoke), Math.round(x.ageMs * 10) / 10, x.path] as [number, number, string],
    ),
    ...history.convergence.flatMap((c) => {
      const times = Object.values(c.paths)
      const worst = times.includes(undefined) ? bounds.convergenceMs : Math.max(0, ...(times as number[]))
      return [[t(c.at), Math.round(worst * 10) / 10, 'convergence'] as [number, number, string]]
    }),
  ]
  const loadS = run.loadS ?? run.durationS
  const result: Omit<VerifyResult, 'targets'> = {
    run,
    clauses,
    counts: {
      reads: s.counts.reads,
      writes: s.counts.writes,
      inserts: s.counts.inserts,
      deletes: s.counts.deletes,
      failed: s.counts.failed,
      qualifyingReads: s.counts.qualifying,
      qualifyingFaultFree: s.counts.qualifyingFaultFree,
      qualifyingPerS: Math.round(s.counts.qualifying / Math.max(loadS, 1e-9)),
      readSources: s.readSources,
    },
    stale: {
      total: stale.length,
      beyondBoundFaultFree: beyond.length,
      rateFaultFree: beyond.length / Math.max(1, s.counts.qualifyingFaultFree),
      rateUpper95: upperBound95(beyond.length, s.counts.qualifyingFaultFree),
      underFault: stale.filter((x) => x.underFault).length,
      agePerPath,
    },
    ryw: ryw.length,
    resurrections: resurrections.length,
    monotonic: {
      instance: mono.instance.length,
      clientInstance: mono.clientInstance.length,
      clientCrossInstance: mono.clientCross.length,
    },
    c3: { staleSets: s.staleSets.length, quiescence: q },
    c4: {
      replicaFills: s.counts.replicaFills,
      withoutLsn: s.replicaWithoutLsn.length,
      behind: behind.length,
      behindUnderFault: s.replicaBehind.length - behind.length,
    },
    c8,
    convergence,
    heals: {
      ...heals,
      perFault: history.heals.map((h) => ({ fault: h.fault, endS: t(h.heal), ms: h.ms, keys: h.keys })),
    },
    faults: history.faults.map((f) => ({ ...f, startS: t(f.start), endS: t(f.end) })),
    invariants: inv,
    series,
    violations,
    notes: [
      'Reads are checked as they are recorded (the stream checker) and not kept: memory grows with the writes ' +
        'and the findings, not with the reads.',
      'Deletes: clients delete products they inserted and keep reading them; a read that finds one again ' +
        'after a read saw it gone (per instance or client), or later than the bounds after the delete, is a ' +
        'resurrection. The search projection keeps tombstones, checked after settling.',
      'relay-kill SIGKILLs a product instance: relays run inside product instances.',
      'Monotonic reads are a hard rule per instance and per (client, instance); a client reading through ' +
        'different instances may go back within the C2 bound (reported, not a failure).',
      'Orders bump product versions too; only versions acknowledged by PUT/POST define staleness.',
      'C3: a stale cached read beyond its bound whose version a fill brought while racing the newer write is a ' +
        'stale set; after quiescence every cached copy must hold the primary version or nothing.',
      'C4: a replica fill reports the replay LSN it read at (x-concord-lsn, read before the row); it must be at ' +
        'or past the commit LSN of every write acknowledged before the read began. Under redis-restart and ' +
        'redis-latency (and 10 s after) the L2 fence that carries the LSN can be gone: reported, not a failure.',
      'C8: divergences are written straight into Redis and the search database after the load; one checker ' +
        'pass with a budget covering every product must find, repair and report each of them. Divergences it ' +
        'finds that were not injected are counted (others), not a C8 failure: the quiescence probe (C3, C7) ' +
        'judges those copies.',
      'Convergence times are upper bounds: a copy counts from the answer of the probe that saw it caught up ' +
        '(probes poll every 15 ms for 0.3 s, then 50 ms, then 200 ms), so a slow machine inflates them.',
      'Stale reads under a fault or within 10 s after its heal are reported, not failures, except on the ' +
        'writing instance (C1) and beyond 10 s.',
    ],
  }
  return { ...result, targets: evaluateTargets(result) }
}

/** Whether every clause passed: the exit status follows this. */
export const passed = (r: VerifyResult) => r.clauses.every((k) => k.verdict === 'pass')

/** The last line: PASS when every clause C1-C8 passed, else which failed or were not checked. */
export function verdictLine(r: VerifyResult): string {
  if (passed(r)) return 'PASS: C1-C8 all checked, no violation'
  const failed = r.clauses.filter((k) => k.verdict === 'fail').map((k) => k.clause)
  const skipped = r.clauses.filter((k) => k.verdict === 'not checked').map((k) => k.clause)
  return `FAIL: ${[failed.length ? `${failed.join(', ')} violated` : '', skipped.length ? `${skipped.join(', ')} not checked` : ''].filter(Boolean).join('; ')}`
}

/** Read-your-writes: the newer write the read missed was the reader's own, through the same instance. */
function isOwnOnInstance(history: History, stale: StaleRead): boolean {
  const seen = stale.read.version ?? 0
  return history.ops.some(
    (w) =>
      w.ok &&
      w.key === stale.read.key &&
      w.client === stale.read.client &&
      w.instance === stale.read.instance &&
      w.ack < stale.read.invoke &&
      (w.version ?? 0) > seen,
  )
}
