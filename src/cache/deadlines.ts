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

  /** Settles like `promise`, unless the bound passes first: then `onTimeout()`'s error rejects. */
  bound<T>(promise: Promise<T>, onTimeout: () => unknown, onSettle: (ok: boolean) => void): Promise<T> {
    const bucket = this.bucket()
    return new Promise<T>((resolve, reject) => {
      const expire = () => reject(onTimeout())
      bucket.calls.add(expire)
      promise.then(
        (value) => {
          if (!bucket.calls.delete(expire)) return
          onSettle(true)
          resolve(value)
        },
        (error: unknown) => {
          if (!bucket.calls.delete(expire)) return
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
      for (const expire of first.calls) expire()
      first.calls.clear()
    }
    if (this.buckets.length === 0) {
      clearInterval(this.ticker)
      this.ticker = undefined
    }
  }
}

interface Bucket {
  opened: number
  deadline: number
  calls: Set<() => void>
}
