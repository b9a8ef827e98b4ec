/** A call under a deadline: `expire()` runs once, when the bound passes before the call left its bucket. */
export interface Expirable {
  expire(): void
}

/**
 * Timeouts for many short calls that share one bound, without a timer per call (a Node timer per Redis command
 * costs more than the command's own client work). Calls started in the same quarter of the bound share a bucket
 * with one deadline; a call that settles leaves its bucket at once (nothing is kept for the garbage collector to
 * promote), and one ticker expires overdue buckets. A call times out between `ms` and `ms * 1.25` (plus
 * event-loop delay).
 */
export class Deadlines {
  private readonly buckets: Bucket[] = []
  private ticker: NodeJS.Timeout | undefined
  private readonly slice: number

  constructor(private readonly ms: number) {
    this.slice = Math.max(2, Math.floor(ms / 4))
  }

  /**
   * Starts `call`'s clock: its `expire()` runs when the bound passes, unless `leave` came first. The lower-level
   * form of `bound`, for a caller that settles its own promise (one promise fewer per call).
   */
  enter(call: Expirable): Bucket {
    const bucket = this.bucket()
    bucket.calls.add(call)
    return bucket
  }

  /** Stops `call`'s clock. False when it had expired already (its outcome then no longer counts). */
  leave(bucket: Bucket, call: Expirable): boolean {
    return bucket.calls.delete(call)
  }

  /** Settles like `promise`, unless the bound passes first: then `onTimeout()`'s error rejects. */
  bound<T>(promise: Promise<T>, onTimeout: () => unknown, onSettle: (ok: boolean) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: Expirable = { expire: () => reject(onTimeout()) }
      const bucket = this.enter(call)
      promise.then(
        (value) => {
          if (!bucket.calls.delete(call)) return
          onSettle(true)
          resolve(value)
        },
        (error: unknown) => {
          if (!bucket.calls.delete(call)) return
          onSettle(false)
          reject(error)
        },
      )
    })
  }

  private bucket(): Bucket {
    const now = Date.now()
    const last = this.buckets[this.buckets.length - 1]
    if (last !== undefined && now - last.opened < this.slice) return last
    const bucket: Bucket = { opened: now, deadline: now + this.ms + this.slice, calls: new Set() }
    this.buckets.push(bucket)
    if (this.ticker === undefined) {
      this.ticker = setInterval(() => this.tick(), this.slice)
      this.ticker.unref()
    }
    return bucket
  }

  private tick(): void {
    const now = Date.now()
    while (this.buckets.length > 0) {
      const first = this.buckets[0]!
      if (first.deadline > now) break
      this.buckets.shift()
      for (const call of first.calls) call.expire()
      first.calls.clear()
    }
    if (this.buckets.length === 0) {
      clearInterval(this.ticker)
      this.ticker = undefined
    }
  }
}

export interface Bucket {
  opened: number
  deadline: number
  calls: Set<Expirable>
}
