import type { SagaLog } from 'concord/saga'

/**
 * A saga log that can "crash": after `crash()` every call fails, as if this process's connections died
 * with it. Writes already made stay in the underlying log, which a fresh engine then recovers.
 * `crashAfterWrites(n)` crashes right after the n-th successful write (a step boundary). `refusedStarts()`
 * counts the sagas whose start the crash refused before it reached the log: the only ones that may be missing.
 */
export function crashableLog(inner: SagaLog): {
  log: SagaLog
  crash(): void
  crashAfterWrites(n: number): void
  crashed(): boolean
  refusedStarts(): number
} {
  let dead = false
  let refusedStarts = 0
  let writesLeft = Number.POSITIVE_INFINITY
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>, write = false, start = false) =>
    async (...args: A): Promise<R> => {
      if (dead) {
        if (start) refusedStarts++
        throw new Error('crashed')
      }
      const result = await fn(...args)
      if (dead) throw new Error('crashed')
      if (write) {
        writesLeft -= 1
        if (writesLeft <= 0) dead = true
      }
      return result
    }
  const log: SagaLog = {
    start: guard(inner.start.bind(inner), true, true),
    save: guard(inner.save.bind(inner), true),
    claim: guard(inner.claim.bind(inner)),
    claimOne: guard(inner.claimOne.bind(inner)),
    renew: guard(inner.renew.bind(inner)),
    release: guard(inner.release.bind(inner)),
    resolve: guard(inner.resolve.bind(inner)),
    get: guard(inner.get.bind(inner)),
    find: guard(inner.find.bind(inner)),
    list: guard(inner.list.bind(inner)),
    counts: guard(inner.counts.bind(inner)),
    history: guard(inner.history.bind(inner)),
  }
  return {
    log,
    crash: () => {
      dead = true
    },
    crashAfterWrites: (n) => {
      writesLeft = n
    },
    crashed: () => dead,
    refusedStarts: () => refusedStarts,
  }
}
