/** Callers waiting, per key, for a lease holder's outcome: the value blob, `null` (load yourself) or a timeout. */
export class FillWaiters {
  private readonly byKey = new Map<string, Set<(blob: Buffer | null) => void>>()

  wait(key: string, timeoutMs: number): Promise<Buffer | null | undefined> {
    return new Promise((resolve) => {
      let set = this.byKey.get(key)
      if (set === undefined) {
        set = new Set()
        this.byKey.set(key, set)
      }
      const wake = (blob: Buffer | null) => {
        clearTimeout(timer)
        resolve(blob)
      }
      const timer = setTimeout(() => {
        const current = this.byKey.get(key)
        current?.delete(wake)
        if (current?.size === 0) this.byKey.delete(key)
        resolve(undefined)
      }, timeoutMs)
      set.add(wake)
    })
  }

  wake(key: string, blob: Buffer | null): void {
    const set = this.byKey.get(key)
    if (set === undefined) return
    this.byKey.delete(key)
    for (const wake of set) wake(blob)
  }
}
