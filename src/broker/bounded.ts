export { within } from '../within.js'

/** A stop signal: `wait(ms)` sleeps unless `stop()` is called, which wakes every sleeper at once. */
export class StopSignal {
  stopped = false
  private readonly wakers = new Set<() => void>()

  stop(): void {
    this.stopped = true
    for (const wake of this.wakers) wake()
    this.wakers.clear()
  }

  /** Waits `ms`, or less if stopped; resolves true when still running. */
  wait(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false)
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.wakers.delete(wake)
        resolve(!this.stopped)
      }
      const timer = setTimeout(wake, ms)
      this.wakers.add(wake)
    })
  }
}
