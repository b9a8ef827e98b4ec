import type { Bounds, MonotonicViolation, StaleRead } from './checker.js'
import type { Op } from './history.js'

/** Faults that take the L2 fence (and the invalidation LSN it holds) away: fills may not know the last LSN. */
export const FENCE_FAULTS = ['redis-restart', 'redis-latency'] as const

/** A pg_lsn ('16/B374D848') as a number: exact up to 2^53 bytes of WAL. */
export function lsnNumber(lsn: string): number {
  const slash = lsn.indexOf('/')
  return Number.parseInt(lsn.slice(0, slash), 16) * 2 ** 32 + Number.parseInt(lsn.slice(slash + 1), 16)
}

/** A replica fill that read at a position older than a write acknowledged before it began (C4). */
export interface ReplicaBehind {
  read: Op
  write: Op
  /** Under a fault that takes the L2 fence away (reported, not a failure). */
  underFault: boolean
}

/** A stale read from a cache tier whose version a fill installed while racing the newer write (C3). */
export interface StaleSet {
  stale: StaleRead
  fill: Op
}

// A 404 answered after a delete was sent counts as the newest state (the tombstone), before and after its answer.
const GONE = Number.MAX_SAFE_INTEGER
const versionOf = (op: Op) => op.version ?? 0

/** The acknowledged writes of one key in ack order, with running maxima: what a read invoked at t must see. */
class KeyWrites {
  readonly ops: Op[] = []
  private readonly acks: number[] = []
  /** Index of the highest version (first reaching it) and the highest commit LSN among ops[0..i]. */
  private readonly topVersion: number[] = []
  private readonly topLsn: number[] = []
  private readonly lsns: number[] = []

  add(op: Op): void {
    let i = this.ops.length
    while (i > 0 && this.acks[i - 1]! > op.ack) i--
    this.ops.splice(i, 0, op)
    this.acks.splice(i, 0, op.ack)
    this.lsns.splice(i, 0, op.lsn ? lsnNumber(op.lsn) : -1)
    this.topVersion.length = i
    this.topLsn.length = i
    for (let j = i; j < this.ops.length; j++) {
      const pv = j > 0 ? this.topVersion[j - 1]! : -1
      this.topVersion.push(pv >= 0 && versionOf(this.ops[pv]!) >= versionOf(this.ops[j]!) ? pv : j)
      const pl = j > 0 ? this.topLsn[j - 1]! : -1
      this.topLsn.push(pl >= 0 && this.lsns[pl]! >= this.lsns[j]! ? pl : j)
    }
  }

  /** Index of the last write acknowledged before `t`, or -1. */
  before(t: number): number {
    let lo = 0
    let hi = this.acks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.acks[mid]! < t) lo = mid + 1
      else hi = mid
    }
    return lo - 1
  }

  maxVersion(i: number): number {
    return versionOf(this.ops[this.topVersion[i]!]!)
  }

  /** The write with the highest commit LSN among the first i + 1, and that LSN (-1: none carried one). */
  maxLsn(i: number): { op: Op; lsn: number } {
    const at = this.topLsn[i]!
    return { op: this.ops[at]!, lsn: this.lsns[at]! }
  }
}

/** Reads of one key in one scope, in ack order, with the best (highest version) read finished so far. */
class ReadGroup {
  private acks: number[] = []
  private best: Op[] = []
  private start = 0
  /** Best read among those pruned (acknowledged long before any read still to come began). */
  private settled: Op | undefined

  /** The best read finished before `t`. */
  bestBefore(t: number): Op | undefined {
    const last = this.acks.length - 1
    // Usually every read of the group so far finished before this one began.
    if (last >= this.start && this.acks[last]! < t) return this.best[last]
    let lo = this.start
    let hi = this.acks.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.acks[mid]! < t) lo = mid + 1
      else hi = mid
    }
    return lo - 1 >= this.start ? this.best[lo - 1] : this.settled
  }

  add(read: Op, horizon: number): void {
    let i = this.acks.length
    while (i > this.start && this.acks[i - 1]! > read.ack) i--
    if (i === this.acks.length) {
      // The usual case: answers are recorded in ack order.
      const prev = i > this.start ? this.best[i - 1]! : this.settled
      this.acks.push(read.ack)
      this.best.push(prev && versionOf(prev) >= versionOf(read) ? prev : read)
      this.prune(horizon)
      return
    }
    this.acks.splice(i, 0, read.ack)
    this.best.splice(i, 0, read)
    for (let j = i; j < this.acks.length; j++) {
      const prev = j > this.start ? this.best[j - 1]! : this.settled
      // At i the new read; after it, each entry's old running best, which lacked the new read.
      const own = j === i ? read : this.best[j]!
      this.best[j] = prev && versionOf(prev) >= versionOf(own) ? prev : own
    }
    this.prune(horizon)
  }

  private prune(horizon: number): void {
    while (this.start < this.acks.length - 1 && this.acks[this.start]! < horizon) {
      this.settled = this.best[this.start]
      this.start++
    }
    if (this.start >= 32 && this.start * 2 >= this.acks.length) {
      this.acks = this.acks.slice(this.start)
      this.best = this.best.slice(this.start)
      this.start = 0
    }
  }
}

/**
 * Checks reads as they are recorded, against the writes acknowledged before each began, keeping only what a
 * finding needs: the writes, the violations, per-scope read summaries for the last `horizonMs`, counters. A
 * read must be recorded after every write acknowledged before it began (true when each call is recorded as
 * its answer arrives: a read's answer needs a network round trip after its start). Memory is bounded by the
 * writes, the findings and the reads of the last `horizonMs`, not by the run's length.
 */
export class StreamChecker {
  readonly counts = {
    reads: 0,
    writes: 0,
    inserts: 0,
    deletes: 0,
    failed: 0,
    qualifying: 0,
    qualifyingFaultFree: 0,
    replicaFills: 0,
  }
  readonly readSources: Record<string, number> = {}
  readonly stale: StaleRead[] = []
  readonly monotonic: Record<MonotonicViolation['scope'], MonotonicViolation[]> = {
    instance: [],
    'client-instance': [],
    client: [],
  }
  /** C4: replica fills that carried no LSN, and fills that read older than an acknowledged write's commit. */
  readonly replicaWithoutLsn: Op[] = []
  readonly replicaBehind: ReplicaBehind[] = []
  /** C3: stale cache reads whose version came from a fill that raced the newer write. */
  readonly staleSets: StaleSet[] = []

  private readonly writes = new Map<number, KeyWrites>()
  /** Read groups per key, indexed by small numbers: string ids would cost more than the check itself. */
  private readonly groups = new Map<number, KeyGroups>()
  private readonly instances = new Map<string, number>()
  private readonly deleteInvoked = new Map<number, number>()
  /** Recent fills (replica or primary reads) per key, for the stale-set attribution. */
  private readonly fills = new Map<number, Op[]>()
  private latest = 0

  constructor(
    readonly bounds: Bounds,
    private readonly underFault: (t: number, names?: readonly string[]) => boolean = () => false,
    /** How long a finished read is kept per scope; a read still to come began at most this long ago. */
    private readonly horizonMs = 15_000,
  ) {}

  /** A delete of `key` was sent at `invoke`: a 404 answered after it may have seen it. */
  deleting(key: number, invoke: number): void {
    if (!this.deleteInvoked.has(key) || this.deleteInvoked.get(key)! > invoke)
      this.deleteInvoked.set(key, invoke)
  }

  add(op: Op): void {
    if (op.ack > this.latest) this.latest = op.ack
    if (!op.ok) {
      this.counts.failed++
      if (op.kind === 'delete') this.deleting(op.key, op.invoke)
      return
    }
    if (op.kind !== 'read') {
      this.counts[op.kind === 'write' ? 'writes' : op.kind === 'insert' ? 'inserts' : 'deletes']++
      if (op.kind === 'delete') {
        this.deleting(op.key, op.invoke)
      }
      if (op.version === undefined) return
      entry(this.writes, op.key, () => new KeyWrites()).add(op)
      return
    }
    this.counts.reads++
    const source = op.source ?? 'none'
    this.readSources[source] = (this.readSources[source] ?? 0) + 1
    let read = op
    if (op.notFound) {
      const del = this.deleteInvoked.get(op.key)
      // Every 404 after the delete is the same state, the newest: giving it the tombstone's version once the
      // delete's answer is in (and GONE before) made two 404s in a row look like a read going back.
      if (del !== undefined && del < op.ack) read = { ...op, version: GONE }
    }
    if (read.source === 'replica' || read.source === 'primary') this.keepFill(read)
    this.checkMonotonic(read)
    const w = this.writes.get(read.key)
    const idx = w ? w.before(read.invoke) : -1
    if (!w || idx < 0) return
    this.counts.qualifying++
    const faulty = this.underFault(read.invoke)
    if (!faulty) this.counts.qualifyingFaultFree++
    if (read.source === 'replica') this.checkReplica(read, w, idx)
    const seen = versionOf(read)
    if (w.maxVersion(idx) <= seen) return
    this.recordStale(read, w, idx, seen, faulty)
  }

  private recordStale(read: Op, w: KeyWrites, idx: number, seen: number, faulty: boolean): void {
    let first: Op | undefined
    let sameInstance: Op | undefined
    let ownWrite = false
    for (let i = 0; i <= idx; i++) {
      const write = w.ops[i]!
      if (versionOf(write) <= seen) continue
      first ??= write
      if (write.instance === read.instance) sameInstance ??= write
      if (write.client === read.client) ownWrite = true
    }
    const stale: StaleRead = {
      read,
      write: first!,
      ageMs: read.invoke - first!.ack,
      path: sameInstance ? 'same-instance' : 'cross-instance',
      ownWrite,
      underFault: faulty,
    }
    this.stale.push(stale)
    // A cached value beyond its bound that a fill racing the newer write brought: the fence let a stale set in.
    const bound = stale.path === 'same-instance' ? 0 : this.bounds.crossInstanceMs
    if ((read.source === 'l1' || read.source === 'l2') && !faulty && stale.ageMs > bound) {
      const write = first!
      const fill = this.fills
        .get(read.key)
        ?.find((f) => versionOf(f) === seen && f.invoke < write.ack && f.ack > write.invoke)
      if (fill) this.staleSets.push({ stale, fill })
    }
  }

  private checkReplica(read: Op, w: KeyWrites, idx: number): void {
    this.counts.replicaFills++
    const last = w.maxLsn(idx)
    if (!read.lsn) {
      this.replicaWithoutLsn.push(read)
      return
    }
    if (last.lsn >= 0 && lsnNumber(read.lsn) < last.lsn)
      this.replicaBehind.push({
        read,
        write: last.op,
        underFault: this.underFault(read.invoke, FENCE_FAULTS),
      })
  }

  private keepFill(read: Op): void {
    const list = entry(this.fills, read.key, () => [] as Op[])
    list.push(read)
    let drop = 0
    while (drop < list.length && list[drop]!.ack < this.latest - this.horizonMs) drop++
    if (drop > 0) list.splice(0, drop)
  }

  private checkMonotonic(read: Op): void {
    const horizon = this.latest - this.horizonMs
    // The hot path: plain get/set, no closure per read.
    let instance = this.instances.get(read.instance)
    if (instance === undefined) {
      instance = this.instances.size
      this.instances.set(read.instance, instance)
    }
    let groups = this.groups.get(read.key)
    if (groups === undefined) {
      groups = [new Map(), new Map(), new Map()]
      this.groups.set(read.key, groups)
    }
    // Per key: by instance, by (client, instance), by client; small integer keys.
    this.checkIn(groups[0], instance, 'instance', read, horizon)
    this.checkIn(groups[1], read.client * 256 + instance, 'client-instance', read, horizon)
    this.checkIn(groups[2], read.client, 'client', read, horizon)
  }

  private checkIn(
    groups: Map<number, ReadGroup>,
    slot: number,
    scope: MonotonicViolation['scope'],
    read: Op,
    horizon: number,
  ): void {
    let group = groups.get(slot)
    if (group === undefined) {
      group = new ReadGroup()
      groups.set(slot, group)
    }
    const best = group.bestBefore(read.invoke)
    if (best && versionOf(read) < versionOf(best))
      this.monotonic[scope].push({ scope, earlier: best, later: read })
    group.add(read, horizon)
  }
}

type KeyGroups = [Map<number, ReadGroup>, Map<number, ReadGroup>, Map<number, ReadGroup>]

/** The map's value for `key`, made and stored first when missing. */
function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key)
  if (value === undefined) {
    value = make()
    map.set(key, value)
  }
  return value
}
