import { TimeoutError } from '../errors.js'
import { Deadlines, type Expirable } from './deadlines.js'
import { CircuitOpenError } from './errors.js'

export type CircuitState = 'closed' | 'open' | 'half-open'

/**
 * Every L2 call goes through here: a timeout, and a circuit breaker that stops calling a failing Redis after
 * `failures` consecutive failures, then lets one probe through every `resetAfterMs`. Callers treat a rejection as
 * "no L2" and fall back to the loader; nothing here reaches a reader.
 */
export class L2Guard {
  state: CircuitState = 'closed'
  readonly counts = { errors: 0, timeouts: 0, rejectedOpen: 0, opened: 0 }
  private consecutive = 0
  private openUntil = 0
  private probing = false
  private readonly deadlines: Deadlines

  constructor(
    private readonly tier: string,
    private readonly timeoutMs: number,
    private readonly failures: number,
    private readonly resetAfterMs: number,
  ) {
    this.deadlines = new Deadlines(timeoutMs)
  }

  /** True when a call would be attempted now (no side effects; for skipping optional work). */
  get available(): boolean {
    return this.state === 'closed' || (this.state === 'open' && Date.now() >= this.openUntil)
  }

  run<T>(call: () => Promise<T>, what: string): Promise<T> {
    if (this.state !== 'closed') {
      if (this.state === 'open' && Date.now() >= this.openUntil && !this.probing) {
        this.state = 'half-open'
      }
      if (this.state === 'open' || this.probing) {
        this.counts.rejectedOpen++
        return Promise.reject(new CircuitOpenError(this.tier, Math.max(0, this.openUntil - Date.now())))
      }
      this.probing = true
    }
    let pending: Promise<T>
    try {
      pending = call()
    } catch (error) {
      pending = Promise.reject(error)
    }
    return this.deadlines.bound(
      pending,
      () => {
        this.counts.timeouts++
        this.failed()
        return new TimeoutError(`L2 ${what}`, this.timeoutMs)
      },
      this.settled,
    )
  }

  /**
   * `run` for a caller that settles its own promise (the hit path: no wrapper promise). Only while the circuit is
   * closed; otherwise use `run`, which rejects or lets a probe through. Counts and bounds like `run`; the outcome
   * reaches `call` once: `resolved(value)`, `rejected(error)`, or `expire()` at the deadline (which should take its
   * error from `timedOut`). `call`'s methods must not throw.
   */
  watch<T>(pending: Promise<T>, call: Watcher<T>): void {
    const deadlines = this.deadlines
    const bucket = deadlines.enter(call)
    pending.then(
      (value) => {
        if (!deadlines.leave(bucket, call)) return
        this.succeeded()
        call.resolved(value)
      },
      (error: unknown) => {
        if (!deadlines.leave(bucket, call)) return
        this.settled(false)
        call.rejected(error)
      },
    )
  }

  /** A watched call's timeout: counted as `run` counts one; the error to settle it with. */
  timedOut(what: string): TimeoutError {
    this.counts.timeouts++
    this.failed()
    return new TimeoutError(`L2 ${what}`, this.timeoutMs)
  }

  private readonly settled = (ok: boolean): void => {
    if (ok) this.succeeded()
    else {
      this.counts.errors++
      this.failed()
    }
  }

  private succeeded(): void {
    this.consecutive = 0
    this.probing = false
    this.state = 'closed'
  }

  private failed(): void {
    this.probing = false
    this.consecutive++
    if (this.state === 'half-open' || this.consecutive >= this.failures) {
      if (this.state !== 'open') this.counts.opened++
      this.state = 'open'
      this.openUntil = Date.now() + this.resetAfterMs
    }
  }
}

/** A call `L2Guard.watch` bounds. */
export interface Watcher<T> extends Expirable {
  resolved(value: T): void
  rejected(error: unknown): void
}
