import type { FastifyInstance } from 'fastify'

export interface Request {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  url: string
  body?: unknown
  headers?: Record<string, string>
}

export interface Response {
  status: number
  body: unknown
  /** The `x-concord-*` headers of the answer (where a read came from), passed on by the gateway. */
  headers?: Record<string, string>
}

const passOn = (headers: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('x-concord-'))) as Record<
    string,
    string
  >

/** How one instance reaches another: in-process (embedded) or over HTTP (one process per instance). */
export interface Transport {
  request(instance: string, request: Request): Promise<Response>
}

/** Embedded: fastify's `inject` runs the target instance's routes in this process, with no socket. */
export function injectTransport(apps: ReadonlyMap<string, FastifyInstance>): Transport {
  return {
    async request(instance, request) {
      const app = apps.get(instance)
      if (!app) throw new Error(`no instance ${instance}`)
      const response = await app.inject({
        method: request.method,
        url: request.url,
        headers: request.headers,
        ...(request.body === undefined ? {} : { payload: request.body as string | object }),
      })
      return {
        status: response.statusCode,
        body: response.body ? response.json() : undefined,
        headers: passOn(response.headers),
      }
    },
  }
}

/** Real mode: HTTP to each instance's base URL, with a bound on every call. */
export function httpTransport(urls: ReadonlyMap<string, string>, timeoutMs = 10_000): Transport {
  return {
    async request(instance, request) {
      const base = urls.get(instance)
      if (!base) throw new Error(`no instance ${instance}`)
      const raw = typeof request.body === 'string'
      const response = await fetch(base + request.url, {
        method: request.method,
        headers: {
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...request.headers,
        },
        body:
          request.body === undefined
            ? undefined
            : raw
              ? (request.body as string)
              : JSON.stringify(request.body),
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await response.text()
      return {
        status: response.status,
        body: text ? JSON.parse(text) : undefined,
        headers: passOn(Object.fromEntries(response.headers)),
      }
    },
  }
}
