// Helpers of the consumer smoke scripts. These files are copied into a temporary project that installed the
// packed concord, compiled there with strict settings and run with plain node: nothing here may import the
// repository (no test/support), only concord's public subpaths and the project's own dependencies.

/** An environment variable the pack check sets; a clear error when it is missing. */
export function env(name: string): string {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set (run through scripts/pack-check.ts)`)
  return value
}

/** Polls `check` until it returns a value other than undefined/false; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Throws with `message` when `ok` is false (the smoke scripts have no test runner). */
export function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(`check failed: ${message}`)
}
