import type { Convergence, FaultWindow, HealConvergence, Op } from './history.js'
import { type Summary, summarize } from './stats.js'

/** The bounds the shop promises (README / test/support/shop-suite.ts). */
export interface Bounds {
  /** C2: another instance stops serving an older value within this (ms). */
  crossInstanceMs: number
  /** C2 under faults / C7: every copy converges within this (ms). */
  convergenceMs: number
  /** After a heal, time allowed before fault-free rules apply again (ms). */
  healGraceMs: number
}

export const DEFAULT_BOUNDS: Bounds = { crossInstanceMs: 1000, convergenceMs: 10_000, healGraceMs: 10_000 }

/** One read that returned an older version than a write acknowledged before it started. */
export interface StaleRead {
  read: Op
  /** The first acknowledged write newer than what the read returned. */
  write: Op
  /** read.invoke - write.ack (ms). */
  ageMs: number
  path: 'same-instance' | 'cross-instance'
  /** The reader wrote that newer version itself. */
  ownWrite: boolean
  /** Inside a fault window or its grace period after the heal. */
  underFault: boolean
}

/** A read returning an older version than an earlier, finished read in the same scope. */
export interface MonotonicViolation {
  scope: 'instance' | 'client-instance' | 'client'
  earlier: Op
  later: Op
}

// A 404 is version 0 (not there yet), unless resolveDeletes gave it its delete's tombstone version.
const versionOf = (op: Op) => op.version ?? 0
const isRead = (op: Op) => op.kind === 'read' && op.ok
const isWrite = (op: Op) =>
  (op.kind === 'write' || op.kind === 'insert' || op.kind === 'delete') && op.ok && op.version !== undefined

/**
 * A 404 read of a deleted product saw the delete: it gets the delete's tombstone version, so reading a
 * deletion is not taken for an old read, and a later read that finds the product again is a step back. A
 * delete counts once it was invoked before the read answered (it may have committed in between); one whose
 * answer was lost counts as the newest version there is.
 */
export function resolveDeletes(ops: readonly Op[]): Op[] {
  const deletes = groupBy(
    ops.filter((o) => o.kind === 'delete'),
    (o) => o.key,
  )
  if (deletes.size === 0) return [...ops]
  return ops.map((op) => {
    if (op.kind !== 'read' || !op.ok || !op.notFound) return op
    const del = deletes.get(op.key)?.find((d) => d.invoke < op.ack)
    if (!del) return op
    return { ...op, version: del.ok && del.version !== undefined ? del.version : Number.MAX_SAFE_INTEGER }
  })
}

/**
 * Resurrections: a read that finds a deleted product again after a read in the same scope saw it gone, or
 * later than the bounds allow after the delete was acknowledged (the C2 bound outside faults, the convergence
 * bound always). Needs the ops through `resolveDeletes`.
 */
export function findResurrections(
  stale: readonly StaleRead[],
  monotonic: readonly MonotonicViolation[],
  bounds: Bounds = DEFAULT_BOUNDS,
): Op[] {
  const late = stale.filter(
    (s) =>
      s.write.kind === 'delete' &&
      !s.read.notFound &&
      (s.ageMs > bounds.convergenceMs || (!s.underFault && s.ageMs > bounds.crossInstanceMs)),
  )
  const back = monotonic.filter(
    (m) => m.earlier.notFound && m.earlier.version !== undefined && !m.later.notFound,
  )
  return [...new Set([...late.map((s) => s.read), ...back.map((m) => m.later)])]
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string | number): Map<string | number, T[]> {
  const groups = new Map<string | number, T[]>()
  for (const item of items) {
    const key = keyOf(item)
    const group = groups.get(key)
    if (group) group.push(item)
    else groups.set(key, [item])
  }
  return groups
}

/** Whether time `t` falls in a fault window or within `graceMs` after its heal. */
export function underFault(t: number, faults: readonly FaultWindow[], graceMs: number): boolean {
  return faults.some((f) => t >= f.start && t <= f.end + graceMs)
}

/**
 * Stale reads: a read invoked after the ack of a write of a higher version of the same key (by anyone)
 * that returns a lower version, or not-found after an acknowledged insert. A read concurrent with the
 * write (invoked before its ack) is never stale. Age = read invoke - ack of the first newer write.
 */
export function findStaleReads(
  ops: readonly Op[],
  faults: readonly FaultWindow[] = [],
  bounds: Bounds = DEFAULT_BOUNDS,
): { stale: StaleRead[]; qualifying: number; qualifyingFaultFree: number } {
  const writes = groupBy(
    ops.filter(isWrite).sort((a, b) => a.ack - b.ack),
    (op) => op.key,
  )
  const stale: StaleRead[] = []
  let qualifying = 0
  let qualifyingFaultFree = 0
  for (const read of ops) {
    if (!isRead(read)) continue
    const history = writes.get(read.key)
    if (!history || history[0]!.ack >= read.invoke) continue
    qualifying++
    const faulty = underFault(read.invoke, faults, bounds.healGraceMs)
    if (!faulty) qualifyingFaultFree++
    const seen = versionOf(read)
    // The first write (in ack order) acknowledged before the read started and newer than what it saw.
    let first: Op | undefined
    let sameInstance: Op | undefined
    for (const write of history) {
      if (write.ack >= read.invoke) break
      if (write.version! > seen) {
        first ??= write
        if (write.instance === read.instance) sameInstance ??= write
      }
    }
    if (!first) continue
    const ownWrite = history.some((w) => w.ack < read.invoke && w.version! > seen && w.client === read.client)
    stale.push({
      read,
      write: first,
      ageMs: read.invoke - first.ack,
      path: sameInstance ? 'same-instance' : 'cross-instance',
      ownWrite,
      underFault: faulty,
    })
  }
  return { stale, qualifying, qualifyingFaultFree }
}

/**
 * Read-your-writes (C1 for the writer): a client's read on the instance it wrote through, after its own
 * write's ack, returning an older version.
 */
export function findRywViolations(stale: readonly StaleRead[], ops: readonly Op[]): StaleRead[] {
  const own = groupBy(ops.filter(isWrite), (op) => `${op.client}/${op.key}/${op.instance}`)
  return stale.filter((s) =>
    (own.get(`${s.read.client}/${s.read.key}/${s.read.instance}`) ?? []).some(
      (w) => w.ack < s.read.invoke && w.version! > versionOf(s.read),
    ),
  )
}

/**
 * Monotonic reads within each group (one key, one scope): a read that returns an older version than a read
 * of the same group that had finished before it started. Concurrent reads may come back in any order.
 */
export function findMonotonicViolations(
  ops: readonly Op[],
  scope: MonotonicViolation['scope'],
): MonotonicViolation[] {
  const scopeOf = (op: Op) =>
    scope === 'instance' ? op.instance : scope === 'client' ? `c${op.client}` : `c${op.client}@${op.instance}`
  const groups = groupBy(ops.filter(isRead), (op) => `${op.key}|${scopeOf(op)}`)
  const violations: MonotonicViolation[] = []
  for (const reads of groups.values()) {
    const byInvoke = [...reads].sort((a, b) => a.invoke - b.invoke)
    const byAck = [...reads].sort((a, b) => a.ack - b.ack)
    let i = 0
    let best: Op | undefined
    for (const later of byInvoke) {
      while (i < byAck.length && byAck[i]!.ack < later.invoke) {
        const done = byAck[i++]!
        if (!best || versionOf(done) > versionOf(best)) best = done
      }
      if (best && versionOf(later) < versionOf(best)) violations.push({ scope, earlier: best, later })
    }
  }
  return violations
}

/** Share of items whose time is defined and <= each limit. */
export function shareWithin(times: readonly (number | undefined)[], limits: readonly number[]): number[] {
  return limits.map((limit) =>
    times.length === 0 ? 1 : times.filter((t) => t !== undefined && t <= limit).length / times.length,
  )
}

/** A write's time to converge everywhere: the slowest path, or undefined if one never converged. */
export function convergedEverywhere(c: Convergence): number | undefined {
  let worst = 0
  for (const ms of Object.values(c.paths)) {
    if (ms === undefined) return undefined
    worst = Math.max(worst, ms)
  }
  return worst
}

/** The path family of a probed copy: `product-1:l1` -> `product-l1`, `l2`, `order-2` -> `order-cache`, `search`. */
export const pathFamily = (path: string) =>
  path.endsWith(':l1')
    ? 'product-l1'
    : path === 'l2'
      ? 'product-l2'
      : path.startsWith('order')
        ? 'order-cache'
        : 'search'

export interface ConvergenceReport {
  writes: number
  /** Share converged everywhere within 0.1 / 1 / 10 s. */
  within: { '100ms': number; '1s': number; '10s': number }
  /** Per path family: convergence time summary (ms) and how many never converged. */
  perPath: Record<string, Summary & { never: number }>
  never: number
}

export function convergenceReport(records: readonly Convergence[]): ConvergenceReport {
  const times = records.map(convergedEverywhere)
  const [a, b, c] = shareWithin(times, [100, 1000, 10_000])
  const perFamily = new Map<string, (number | undefined)[]>()
  for (const record of records) {
    for (const [path, ms] of Object.entries(record.paths)) {
      const family = pathFamily(path)
      perFamily.set(family, [...(perFamily.get(family) ?? []), ms])
    }
  }
  const perPath: ConvergenceReport['perPath'] = {}
  for (const [family, values] of perFamily) {
    const defined = values.filter((v): v is number => v !== undefined)
    perPath[family] = { ...summarize(defined), never: values.length - defined.length }
  }
  return {
    writes: records.length,
    within: { '100ms': a!, '1s': b!, '10s': c! },
    perPath,
    never: times.filter((t) => t === undefined).length,
  }
}

export interface HealReport extends Summary {
  heals: number
  never: number
}

export function healReport(heals: readonly HealConvergence[]): HealReport {
  const defined = heals.map((h) => h.ms).filter((v): v is number => v !== undefined)
  return { heals: heals.length, never: heals.length - defined.length, ...summarize(defined) }
}
