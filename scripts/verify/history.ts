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
  /** Why traced: a sampled write, or a fault's own probe (writer-kill). */
  reason: 'sample' | 'writer-kill'
}

/** Time from a heal until every copy of the keys written during the fault showed their last version. */
export interface HealConvergence {
  fault: string
  heal: number
  keys: number
  /** ms after the heal; absent = not within the deadline. */
  ms?: number
}

/** Collects the history; appends only, so recording costs little on the hot path. */
export class History {
  readonly ops: Op[] = []
  readonly orders: OrderOp[] = []
  readonly faults: FaultWindow[] = []
  readonly convergence: Convergence[] = []
  readonly heals: HealConvergence[] = []
  /** Products a client asked to delete (answered or not): their convergence is not traced, they are gone. */
  readonly deleted = new Set<number>()
  /** The clock's zero: the start of the load. */
  origin = performance.now()

  record(op: Op): void {
    this.ops.push(op)
    if (op.kind === 'delete') this.deleted.add(op.key)
  }
}
