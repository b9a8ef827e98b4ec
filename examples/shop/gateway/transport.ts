import FindMyWay, { type HTTPMethod } from 'find-my-way'
import { Pool } from 'undici'
import { errorAnswer, HttpError } from '../http.js'
import type { Route } from '../routes.js'

export interface Request {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  url: string
  /** A JSON value, or its text as the gateway received it (the instance parses and validates it). */
  body?: unknown
  headers?: Record<string, string>
}

export interface Response {
  status: number
  body: unknown
  /** The `x-concord-*` headers of the answer (where a read came from), passed on by the gateway. */
  headers?: Record<string, string>
}

/** How one instance reaches another: in-process (embedded) or over HTTP (one process per instance). */
export interface Transport {
  request(instance: string, request: Request): Promise<Response>
  /** Lets go of connections, if it holds any. */
  close?(): Promise<void>
}

const passOn = (headers: Record<string, string | string[] | undefined>): Record<string, string> => {
  const kept: Record<string, string> = {}
  for (const name in headers) {
    const value = headers[name]
    if (name.startsWith('x-concord-') && typeof value === 'string') kept[name] = value
  }
  return kept
}

type Router = ReturnType<typeof FindMyWay>

/**
 * Embedded: calls the target instance's route handler in this process, found by the same router fastify
 * uses, with no HTTP emulation (no socket, no serialising and parsing of the answer). The answer's body is the
 * handler's own value, shared, not copied: callers read it and never change it. `instances` may be filled
 * after the transport is made (instances need the transport to reach each other).
 */
export function directTransport(instances: ReadonlyMap<string, readonly Route[]>): Transport {
  const routers = new Map<string, Router>()
  const routerOf = (instance: string): Router => {
    let router = routers.get(instance)
    if (router) return router
    const routes = instances.get(instance)
    if (!routes) throw new Error(`no instance ${instance}`)
    router = FindMyWay({ caseSensitive: true, ignoreTrailingSlash: false, maxParamLength: 100 })
    for (const route of routes) router.on(route.method, route.url, () => undefined, route)
    routers.set(instance, router)
    return router
  }
  return {
    async request(instance, request) {
      const router = routerOf(instance)
      const q = request.url.indexOf('?')
      const path = q === -1 ? request.url : request.url.slice(0, q)
      try {
        const found = router.find(request.method as HTTPMethod, path)
        if (!found) throw new HttpError(404, `no route ${request.method} ${path}`)
        const route = found.store as Route
        return await route.handler({
          params: found.params as Record<string, string>,
          query: q === -1 ? {} : queryOf(request.url.slice(q + 1)),
          body: typeof request.body === 'string' ? parseJson(request.body) : request.body,
          headers: request.headers ?? {},
        })
      } catch (error) {
        return errorAnswer(error as { message: string }, request.method, request.url)
      }
    },
  }
}

/** A query string as fastify parses it: a repeated name gives an array. */
function queryOf(search: string): Record<string, unknown> {
  const query: Record<string, unknown> = {}
  for (const [name, value] of new URLSearchParams(search)) {
    const before = query[name]
    query[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value]
  }
  return query
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(400, 'the body is not valid JSON')
  }
}

/**
 * Real mode: HTTP to each instance's base URL over a pool of kept-alive connections per instance (undici's
 * `Pool`, far cheaper per call than `fetch`), with a bound on the wait for every answer.
 */
export function httpTransport(
  urls: ReadonlyMap<string, string>,
  timeoutMs = 10_000,
  connections = 32,
): Transport {
  const pools = new Map<string, Pool>()
  const poolOf = (instance: string): Pool => {
    let pool = pools.get(instance)
    if (pool) return pool
    const base = urls.get(instance)
    if (!base) throw new Error(`no instance ${instance}`)
    pool = new Pool(base, { connections, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
    pools.set(instance, pool)
    return pool
  }
  return {
    async request(instance, request) {
      const body =
        request.body === undefined
          ? undefined
          : typeof request.body === 'string'
            ? request.body
            : JSON.stringify(request.body)
      const response = await poolOf(instance).request({
        path: request.url,
        method: request.method,
        headers:
          body === undefined ? request.headers : { 'content-type': 'application/json', ...request.headers },
        body,
      })
      const text = await response.body.text()
      return {
        status: response.statusCode,
        body: text ? JSON.parse(text) : undefined,
        headers: passOn(response.headers),
      }
    },
    async close() {
      await Promise.all([...pools.values()].map((pool) => pool.close()))
      pools.clear()
    },
  }
}
