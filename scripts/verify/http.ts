import { Agent, request } from 'undici'

/** The headers of an answer, by lower-case name. */
export interface AnswerHeaders {
  get(name: string): string | undefined
}

/** One HTTP call's outcome, timed on the verify clock. */
export interface Call<T> {
  invoke: number
  ack: number
  status: number
  body?: T
  headers?: AnswerHeaders
  error?: string
}

// undici's own request path, not `fetch`: verify's process also runs the gateway and the Redis proxy, and with
// clients that never pause, fetch's per-call cost (Request/Response/Headers objects, an AbortSignal timer)
// was the run's bound. Keep-alive connections, as many as the clients need.
const agent = new Agent({ keepAliveTimeout: 10_000, connections: 128 })

/**
 * A JSON call with its own timeout. Never throws: a refused connection or a timeout is status 0, so the
 * workload records an unknown outcome and goes on, as a client of a failing shop would.
 */
export async function call<T>(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Call<T>> {
  const invoke = performance.now()
  const timeout = init.timeoutMs ?? 5000
  try {
    const response = await request(url, {
      dispatcher: agent,
      method: (init.method ?? 'GET') as 'GET',
      headers: {
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...init.headers,
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
      headersTimeout: timeout,
      bodyTimeout: timeout,
    })
    const text = await response.body.text()
    const ack = performance.now()
    let body: T | undefined
    try {
      body = text ? (JSON.parse(text) as T) : undefined
    } catch {
      body = undefined
    }
    const raw = response.headers
    const headers: AnswerHeaders = {
      get: (name) => {
        const value = raw[name]
        return Array.isArray(value) ? value.join(', ') : value
      },
    }
    return { invoke, ack, status: response.statusCode, body, headers }
  } catch (error) {
    return { invoke, ack: performance.now(), status: 0, error: (error as Error).message }
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
