import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import { type AdminResponse, createAdminCore, matchRoute } from './core.js'
import type { AdminOptions } from './options.js'
import type { ConsistencyStatus } from './status.js'

/**
 * A `(req, res, next?)` handler: `http.createServer(handler)`, Express `app.use(handler)`, Nest
 * `app.use(handler)`. Requests it has no route for go to `next` (404 without one).
 */
export interface AdminHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void
  /** Collects the status now (what `GET /admin/consistency/status` answers). */
  status(): Promise<ConsistencyStatus>
  readonly registry: Registry
}

/** The largest check request body read (it is two optional fields). */
const MAX_BODY = 64 * 1024

/**
 * The admin API (dashboard, status, checker, cache inspection, `/metrics`) as a plain node handler, for
 * node:http, Express, Nest or anything else that hands out node's request and response. The routes, the token
 * check and the answers are the ones `createAdminRoutes` serves on fastify. Mounted under a prefix (Express
 * `app.use('/ops', handler)`), it serves `/ops/admin/...` and `/ops/metrics`.
 *
 * @example
 * const admin = createAdminHandler({ token: process.env.ADMIN_TOKEN!, registry, sources })
 * http.createServer(admin).listen(9464)
 */
export function createAdminHandler(options: AdminOptions): AdminHandler {
  const core = createAdminCore('createAdminHandler', options)
  const handler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => {
    const url = new URL(req.url ?? '/', 'http://admin.invalid')
    const found = matchRoute(req.method ?? 'GET', url.pathname)
    if (found === undefined) {
      if (next) return next()
      return write(res, req.method, {
        status: 404,
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ error: 'not found' }),
      })
    }
    const respond = async () => {
      let body: unknown
      if (found.route === 'check') {
        const read = await readJson(req)
        if (!read.ok) return write(res, req.method, read.response)
        body = read.value
      }
      const response = await core.serve({
        route: found.route,
        headers: req.headers,
        query: url.searchParams,
        search: url.search,
        params: found.params,
        body,
      })
      write(res, req.method, response)
    }
    respond().catch((error: unknown) => {
      if (next) return next(error)
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify({ error: error instanceof Error ? error.message : String(error) }))
    })
  }
  return Object.assign(handler, { status: core.status, registry: core.registry })
}

function write(res: ServerResponse, method: string | undefined, response: AdminResponse): void {
  res.writeHead(response.status, {
    ...response.headers,
    'content-length': String(Buffer.byteLength(response.body)),
  })
  res.end(method === 'HEAD' ? undefined : response.body)
}

type JsonRead = { ok: true; value: unknown } | { ok: false; response: AdminResponse }

/** The request's JSON body: one a framework already parsed (Express, Nest), else read from the stream. */
async function readJson(req: IncomingMessage): Promise<JsonRead> {
  const parsed = (req as { body?: unknown }).body
  if (parsed !== undefined) return { ok: true, value: parsed }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) return { ok: false, response: bad(413, 'request body too large') }
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') return { ok: true, value: undefined }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false, response: bad(400, 'invalid check request: the body is not JSON') }
  }
}

function bad(status: number, error: string): AdminResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify({ error }),
  }
}
