import { type Bounds, DEFAULT_BOUNDS } from './checker.js'
import { StreamChecker } from './stream.js'

/** Where a read's value came from, from `x-concord-source`. */
export type Source = 'l1' | 'l2' | 'replica' | 'primary'

/**
 * One operation of one client, on the verify process's monotonic clock (`performance.now()`, ms).
 * `ok` false means no answer or an error status: the outcome is unknown (a write may have committed).
 */
export interface Op {
  client: number
  /** The instance that served it (`x-concord-instance`), or the one asked for when none answered. */
  instance: string
  /** Product id. */
  key: number
  kind: 'read' | 'write' | 'insert' | 'delete'
  invoke: number
  ack: number
  ok: boolean
  /** The version read or written (a delete: its tombstone's); absent for not-found or a failed call. */
  version?: number
  /** For reads: HTTP 404 (the product was not there). */
  notFound?: boolean
  source?: Source
  /**
   * The commit LSN of a write (`x-concord-lsn` on its answer), or the replay LSN a replica fill read at (a
   * lower bound of what it saw). Absent for cache hits and primary fills.
   */
  lsn?: string
}

/** A placed order, as the verify client saw it. */
export interface OrderOp {
  client: number
  instance: string
  mode: 'saga' | 'events'
  productId: number
  memberId: number
  quantity: number
  points: number
  invoke: number
  ack: number
  ok: boolean
  id?: string
  status?: string
}

/** A fault window: injected at `start`, healed at `end` (same clock). */
export interface FaultWindow {
  fault: string
  target?: string
  start: number
  end: number
  note?: string
}

/** The time copies took to catch up with one write (Polaris-style probe), per path; absent = never (10 s). */
export interface Convergence {
  key: number
  version: number
  /** Ack time of the write (or the time its version was learnt, for a killed writer). */
  at: number
  /** Path -> ms after `at` when that copy first showed >= version; absent = not within the deadline. */
  paths: Record<string, number | undefined>
  /** Why traced: a sampled write, or a fault's own probe (writer-kill, foreign-write). */
  reason: 'sample' | 'writer-kill' | 'foreign-write'
}

/** Time from a heal until every copy of the keys written during the fault showed their last version. */
export interface HealConvergence {
  fault: string
  heal: number
  keys: number
  /** ms after the heal; absent = not within the deadline. */
  ms?: number
}

/**
 * Collects the history. Reads are not kept: each goes through the stream checker as it is recorded (the
 * history of a long run at thousands of reads/s would not fit in memory); writes, inserts and deletes are
 * few and kept (`ops`), as are fault windows, probes and heals.
 */
export class History {
  /** Every write, insert and delete, in the order recorded (about ack order). */
  readonly ops: Op[] = []
  readonly orders: OrderOp[] = []
  readonly faults: FaultWindow[] = []
  readonly convergence: Convergence[] = []
  readonly heals: HealConvergence[] = []
  /** Products a client asked to delete (answered or not): their convergence is not traced, they are gone. */
  readonly deleted = new Set<number>()
  private readonly names = new Map<string, string>()
  /** Start of the fault in progress (injected, not healed yet), if any. */
  private openFault: { start: number; fault: string } | undefined
  /** The clock's zero: the start of the load. */
  origin = performance.now()
  readonly stream: StreamChecker

  constructor(bounds: Bounds = DEFAULT_BOUNDS) {
    this.stream = new StreamChecker(bounds, (t, faults) => this.underFault(t, faults))
  }

  /** Records an answered (or failed) call. Reads must be recorded after every write acknowledged before them. */
  record(op: Op): void {
    // Each answer brings its own copy of the instance's name; the writes kept share one.
    const name = this.names.get(op.instance)
    if (name === undefined) this.names.set(op.instance, op.instance)
    else op.instance = name
    if (op.kind !== 'read') {
      this.ops.push(op)
      if (op.kind === 'delete') this.deleted.add(op.key)
    }
    this.stream.add(op)
  }

  /** A delete is about to be sent: reads answering 404 from now on may have seen it. */
  deleting(key: number, invoke: number): void {
    this.stream.deleting(key, invoke)
  }

  /** A fault is being injected at `start`: reads invoked from now on are under it until it is healed. */
  faultStarted(start: number, fault: string): void {
    this.openFault = { start, fault }
  }

  /** A fault window closed (healed). */
  faultEnded(window: FaultWindow): void {
    this.faults.push(window)
    this.openFault = undefined
  }

  /**
   * Whether time `t` falls in a fault window (of one of `names`, if given), the fault in progress, or the grace
   * period after a heal.
   */
  underFault(t: number, names?: readonly string[]): boolean {
    const open = this.openFault
    if (open === undefined && this.faults.length === 0) return false
    const graceMs = this.stream.bounds.healGraceMs
    if (open && t >= open.start && (!names || names.includes(open.fault))) return true
    return this.faults.some(
      (f) => (!names || names.includes(f.fault)) && t >= f.start && t <= f.end + graceMs,
    )
  }
}
