import {
  type Bounds,
  type ConvergenceReport,
  convergenceReport,
  DEFAULT_BOUNDS,
  findMonotonicViolations,
  findResurrections,
  findRywViolations,
  findStaleReads,
  type HealReport,
  healReport,
  type MonotonicViolation,
  pathFamily,
  resolveDeletes,
  type StaleRead,
} from './checker.js'
import type { FaultWindow, History, Op } from './history.js'
import type { Invariants } from './invariants.js'
import { type Summary, summarize } from './stats.js'
import { evaluateTargets, type Target } from './targets.js'

/** One broken rule of the contract: the exit status is non-zero when there is any. */
export interface Violation {
  rule: string
  count: number
  example?: string
}

/** Everything `verify-report.json` holds. */
export interface VerifyResult {
  run: { durationS: number; faults: string[]; seed: number; clients: number; instances: number }
  counts: {
    reads: number
    writes: number
    inserts: number
    deletes: number
    failed: number
    qualifyingReads: number
    /** Qualifying reads outside fault windows and their grace period: the stale-rate denominator. */
    qualifyingFaultFree: number
    readSources: Record<string, number>
  }
  stale: {
    /** Reads older than a write acknowledged before they began (no bound subtracted). */
    total: number
    /** Of those, beyond the promised bound (0 on the writing instance, 1 s elsewhere), outside faults. */
    beyondBoundFaultFree: number
    rateFaultFree: number
    underFault: number
    /** Staleness age (ms) per path, of the stale reads; the probed paths give their convergence time. */
    agePerPath: Record<string, Summary>
  }
  ryw: number
  /** Reads of a deleted product that found it again (see findResurrections). */
  resurrections: number
  monotonic: { instance: number; clientInstance: number; clientCrossInstance: number }
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
  `${op.source ? ` from ${op.source}` : ''} ` +
  `[${op.invoke.toFixed(1)}, ${op.ack.toFixed(1)}] ms`
const describeStale = (s: StaleRead) =>
  `${describeOp(s.read)} after ${describeOp(s.write)} (age ${s.ageMs.toFixed(1)} ms)`
const describeMono = (m: MonotonicViolation) => `${describeOp(m.later)} after ${describeOp(m.earlier)}`

/** Turns the history (and the final-state checks) into the report, and lists the violations of C1-C8. */
export function analyze(
  history: History,
  run: VerifyResult['run'],
  invariants: Invariants | undefined,
  bounds: Bounds = DEFAULT_BOUNDS,
): VerifyResult {
  const ops = resolveDeletes(history.ops)
  const { stale, qualifying, qualifyingFaultFree } = findStaleReads(ops, history.faults, bounds)
  const ryw = findRywViolations(stale, ops)
  const sameInstance = stale.filter((s) => s.path === 'same-instance')
  const beyond = stale.filter(
    (s) => s.path === 'cross-instance' && s.ageMs > bounds.crossInstanceMs && !s.underFault,
  )
  const tooOld = stale.filter((s) => s.ageMs > bounds.convergenceMs)
  const mono = {
    instance: findMonotonicViolations(ops, 'instance'),
    clientInstance: findMonotonicViolations(ops, 'client-instance'),
    clientCross: findMonotonicViolations(ops, 'client'),
  }
  const resurrections = findResurrections(
    stale,
    [...mono.instance, ...mono.clientInstance, ...mono.clientCross],
    bounds,
  )
  const convergence = convergenceReport(history.convergence)
  const heals = healReport(history.heals)

  const agePerPath: Record<string, Summary> = {
    'same-instance': summarize(sameInstance.map((s) => s.ageMs)),
    'cross-instance': summarize(stale.filter((s) => s.path === 'cross-instance').map((s) => s.ageMs)),
  }
  const probed = new Map<string, number[]>()
  for (const c of history.convergence) {
    for (const [path, ms] of Object.entries(c.paths)) {
      const family = pathFamily(path)
      if (family === 'order-cache' || family === 'search') {
        if (ms !== undefined) probed.set(family, [...(probed.get(family) ?? []), ms])
      }
    }
  }
  agePerPath['order-cache (probe)'] = summarize(probed.get('order-cache') ?? [])
  agePerPath['search (probe)'] = summarize(probed.get('search') ?? [])

  const reads = ops.filter((o) => o.kind === 'read' && o.ok)
  const readSources: Record<string, number> = {}
  for (const r of reads) readSources[r.source ?? 'none'] = (readSources[r.source ?? 'none'] ?? 0) + 1

  const violations: Violation[] = []
  const add = (rule: string, items: readonly unknown[], show: (x: never) => string) => {
    if (items.length > 0) violations.push({ rule, count: items.length, example: show(items[0] as never) })
  }
  add('C1 read-your-writes (own write, same instance)', ryw, describeStale)
  add('resurrection: a deleted product read back', resurrections, describeOp)
  add('C1 stale read on the writing instance', sameInstance, describeStale)
  add('monotonic reads per instance', mono.instance, describeMono)
  add('monotonic reads per client and instance', mono.clientInstance, describeMono)
  add('C2 cross-instance stale read beyond 1 s outside faults', beyond, describeStale)
  add('C2 staleness beyond 10 s', tooOld, describeStale)
  if (convergence.never > 0)
    violations.push({ rule: 'C2/C7 write not converged everywhere within 10 s', count: convergence.never })
  if (heals.never > 0 || (heals.max ?? 0) > bounds.convergenceMs)
    violations.push({ rule: 'convergence after a heal beyond 10 s', count: heals.never || 1 })
  if (invariants) {
    const inv = invariants
    const count = (rule: string, n: number, example?: string) => {
      if (n > 0) violations.push({ rule, count: n, example })
    }
    count('C5 lost effects (stock/points)', inv.lostEffects, inv.unbalanced[0])
    count('C5 duplicated effects (stock/points)', inv.duplicatedEffects, inv.unbalanced[0])
    count('C5 acknowledged order not in that state in the database', inv.ackMismatches)
    count('C6 orders not terminal', inv.nonTerminalOrders)
    count('C6 sagas not terminal', inv.nonTerminalSagas, JSON.stringify(inv.sagas))
    count('C5/C7 search projection behind the primary after settling', inv.projectionBehind)
    count('C7 deleted product live again in search after settling', inv.searchRevived)
  }

  const t = (ms: number) => Math.round(((ms - history.origin) / 1000) * 1000) / 1000
  const series: VerifyResult['series'] = [
    ...stale.map(
      (s) => [t(s.read.invoke), Math.round(s.ageMs * 10) / 10, s.path] as [number, number, string],
    ),
    ...history.convergence.flatMap((c) => {
      const times = Object.values(c.paths)
      const worst = times.includes(undefined) ? bounds.convergenceMs : Math.max(0, ...(times as number[]))
      return [[t(c.at), Math.round(worst * 10) / 10, 'convergence'] as [number, number, string]]
    }),
  ]
  const result: Omit<VerifyResult, 'targets'> = {
    run,
    counts: {
      reads: reads.length,
      writes: ops.filter((o) => o.kind === 'write' && o.ok).length,
      inserts: ops.filter((o) => o.kind === 'insert' && o.ok).length,
      deletes: ops.filter((o) => o.kind === 'delete' && o.ok).length,
      failed: ops.filter((o) => !o.ok).length,
      qualifyingReads: qualifying,
      qualifyingFaultFree,
      readSources,
    },
    stale: {
      total: stale.length,
      beyondBoundFaultFree: beyond.length,
      rateFaultFree: beyond.length / Math.max(1, qualifyingFaultFree),
      underFault: stale.filter((s) => s.underFault).length,
      agePerPath,
    },
    ryw: ryw.length,
    resurrections: resurrections.length,
    monotonic: {
      instance: mono.instance.length,
      clientInstance: mono.clientInstance.length,
      clientCrossInstance: mono.clientCross.length,
    },
    convergence,
    heals: {
      ...heals,
      perFault: history.heals.map((h) => ({ fault: h.fault, endS: t(h.heal), ms: h.ms, keys: h.keys })),
    },
    faults: history.faults.map((f) => ({ ...f, startS: t(f.start), endS: t(f.end) })),
    invariants,
    series,
    violations,
    notes: [
      'Deletes: clients delete products they inserted and keep reading them; a read that finds one again ' +
        'after a read saw it gone (per instance or client), or later than the bounds after the delete, is a ' +
        'resurrection. The search projection keeps tombstones, checked after settling.',
      'relay-kill SIGKILLs a product instance: relays run inside product instances.',
      'Monotonic reads are a hard rule per instance and per (client, instance); a client reading through ' +
        'different instances may go back within the C2 bound (reported, not a failure).',
      'Orders bump product versions too; only versions acknowledged by PUT/POST define staleness.',
      'Convergence times are upper bounds: a copy counts from the answer of the probe that saw it caught up ' +
        '(probes poll every 15 ms for 0.3 s, then 50 ms, then 200 ms), so a slow machine inflates them.',
      'Stale reads under a fault or within 10 s after its heal are reported, not failures, except on the ' +
        'writing instance (C1) and beyond 10 s.',
    ],
  }
  return { ...result, targets: evaluateTargets(result) }
}
