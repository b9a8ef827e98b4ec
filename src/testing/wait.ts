/** Polls `probe` until it returns a truthy value or `timeoutMs` passes; returns the value or throws. */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  {
    timeoutMs = 10_000,
    intervalMs = 10,
    what = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const value = await probe()
      if (value) return value as NonNullable<T>
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last })
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}

/** Resolves after `ms` milliseconds (a pause in a scenario, never a wait for a condition: use `waitFor`). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A promise and the function that resolves it: one side of a test waits on `promise`, the other calls `fire()`. */
export function signal(): {
  /** Resolves once `fire()` is called. */
  promise: Promise<void>
  /** Resolves `promise`. */
  fire: () => void
} {
  let fire!: () => void
  const promise = new Promise<void>((resolve) => {
    fire = resolve
  })
  return { promise, fire }
}
