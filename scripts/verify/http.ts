/** One HTTP call's outcome, timed on the verify clock. */
export interface Call<T> {
  invoke: number
  ack: number
  status: number
  body?: T
  headers?: Headers
  error?: string
}

/**
 * A JSON call with its own timeout. Never throws: a refused connection or a timeout is status 0, so the
 * workload records an unknown outcome and goes on, as a client of a failing shop would.
 */
export async function call<T>(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Call<T>> {
  const invoke = performance.now()
  try {
    const response = await fetch(url, {
      method: init.method ?? 'GET',
      headers: {
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...init.headers,
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      signal: AbortSignal.timeout(init.timeoutMs ?? 5000),
    })
    const text = await response.text()
    const ack = performance.now()
    let body: T | undefined
    try {
      body = text ? (JSON.parse(text) as T) : undefined
    } catch {
      body = undefined
    }
    return { invoke, ack, status: response.status, body, headers: response.headers }
  } catch (error) {
    return { invoke, ack: performance.now(), status: 0, error: (error as Error).message }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
