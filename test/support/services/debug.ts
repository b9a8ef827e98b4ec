/** With CONCORD_SERVICES_DEBUG=1, prints how long each start-up step took (to find what is slow). */
const enabled = process.env.CONCORD_SERVICES_DEBUG === '1'

export async function timed<T>(step: string, run: () => Promise<T>): Promise<T> {
  if (!enabled) return run()
  const started = performance.now()
  try {
    return await run()
  } finally {
    console.error(`[concord services] ${step}: ${Math.round(performance.now() - started)} ms`)
  }
}
