import { SagaInterruptedError } from './errors.js'
import type { Lease, SagaLog } from './types.js'

/**
 * Keeps this process's leases alive: every third of the lease it renews all sagas it holds in one
 * write per shard. A saga whose renewal comes back missing was claimed by another process (ours had
 * expired, e.g. during a long pause): its driver is aborted and stops at the next boundary. If renewals
 * fail for a whole lease period (database unreachable), every hold is aborted, since another process
 * may now rightly claim them; the owner-conditioned writes make that safe in any case.
 */
export class LeaseKeeper {
  readonly #log: SagaLog
  readonly #lease: Lease
  readonly #held = new Map<string, AbortController>()
  readonly #timer: NodeJS.Timeout
  #lastRenewal = Date.now()
  #renewing = false

  constructor(log: SagaLog, lease: Lease) {
    this.#log = log
    this.#lease = lease
    this.#timer = setInterval(() => void this.#renew(), Math.max(10, Math.floor(lease.ms / 3)))
    this.#timer.unref()
  }

  /** Starts tracking a saga this process now holds; the signal aborts when the hold ends early. */
  hold(id: string): AbortSignal {
    const controller = new AbortController()
    this.#held.get(id)?.abort(new SagaInterruptedError(id, 'held twice'))
    this.#held.set(id, controller)
    return controller.signal
  }

  /** Stops tracking a saga (it settled, or its driver stopped). */
  drop(id: string): void {
    this.#held.delete(id)
  }

  get ids(): string[] {
    return [...this.#held.keys()]
  }

  /** Stops renewing and aborts every hold with `reason`. */
  close(reason: string): void {
    clearInterval(this.#timer)
    for (const [id, controller] of this.#held) controller.abort(new SagaInterruptedError(id, reason))
  }

  async #renew(): Promise<void> {
    if (this.#renewing) return
    this.#renewing = true
    const ids = this.ids
    try {
      if (ids.length === 0) {
        this.#lastRenewal = Date.now()
        return
      }
      const kept = new Set(await this.#log.renew(ids, this.#lease))
      this.#lastRenewal = Date.now()
      for (const id of ids) {
        if (!kept.has(id))
          this.#held.get(id)?.abort(new SagaInterruptedError(id, 'lease lost to another process'))
      }
    } catch {
      if (Date.now() - this.#lastRenewal > this.#lease.ms) {
        for (const id of ids)
          this.#held.get(id)?.abort(new SagaInterruptedError(id, 'lease could not be renewed'))
      }
    } finally {
      this.#renewing = false
    }
  }
}
