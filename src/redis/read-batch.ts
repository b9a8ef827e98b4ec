/**
 * Coalesces the L2 reads one tick issues into one MGET. The first read of a tick goes out at once as a plain GET
 * (a lone reader pays nothing); the reads after it in the same tick wait for the tick's end and leave as one MGET.
 * Under concurrency, many readers resume in the same tick (after a reply batch), so N reads cost two commands
 * instead of N: per command, the Redis client's work (command object, flags, encoding, reply bookkeeping) is
 * several times the work of a cache hit itself.
 */
export class ReadBatch<V> {
  private keys: string[] = []
  private settles: Settle<V>[] = []
  /** A read went out in this tick: later ones join the batch. */
  private busy = false

  constructor(
    private readonly one: (key: string) => Promise<V>,
    private readonly many: (keys: string[]) => Promise<V[]>,
    private readonly max: number,
  ) {}

  get(key: string): Promise<V> {
    if (!this.busy) {
      this.busy = true
      process.nextTick(this.flush)
      return this.one(key)
    }
    this.keys.push(key)
    return new Promise<V>(this.enqueue)
  }

  /** The batch's promise executor: one function for all reads, not a closure per read. */
  private readonly enqueue = (resolve: (value: V) => void, reject: (error: unknown) => void): void => {
    this.settles.push({ resolve, reject })
  }

  private readonly flush = (): void => {
    this.busy = false
    const keys = this.keys
    const settles = this.settles
    if (keys.length === 0) return
    this.keys = []
    this.settles = []
    for (let start = 0; start < keys.length; start += this.max) {
      const end = Math.min(keys.length, start + this.max)
      if (end - start === 1) {
        const settle = settles[start]!
        this.call(() => this.one(keys[start]!)).then(settle.resolve, settle.reject)
        continue
      }
      this.call(() => this.many(keys.slice(start, end))).then(
        (values) => {
          for (let i = start; i < end; i++) settles[i]!.resolve(values[i - start]!)
        },
        (error: unknown) => {
          for (let i = start; i < end; i++) settles[i]!.reject(error)
        },
      )
    }
  }

  /** A call whose synchronous throw becomes a rejection (the readers must all be settled). */
  private call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return send()
    } catch (error) {
      return Promise.reject(error)
    }
  }
}

interface Settle<V> {
  resolve(value: V): void
  reject(error: unknown): void
}
