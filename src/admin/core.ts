import type { IncomingHttpHeaders } from 'node:http'
import { Registry } from 'prom-client'
import { z } from 'zod'
import { parseOptions } from '../options.js'
import { presentedToken, tokenGuard } from './auth.js'
import { dashboardPage } from './dashboard-page.js'
import { type AdminOptions, schema } from './options.js'
import { type ConsistencyStatus, collectStatus } from './status.js'
import { registerStatusMetrics } from './status-metrics.js'

/** The admin routes, by name; each framework adapter maps its own routing onto these. */
export type AdminRoute = 'page' | 'redirect' | 'status' | 'check' | 'history' | 'inspect' | 'metrics'

/** A request as every adapter hands it to the core: already routed, with the path relative to the mount. */
export interface AdminRequest {
  route: AdminRoute
  headers: IncomingHttpHeaders
  query: URLSearchParams
  /** The raw query string (`''` or `?a=b`), kept by the redirect. */
  search: string
  params?: Record<string, string>
  /** The parsed JSON body of `POST /admin/consistency/check` (`undefined` for none). */
  body?: unknown
}

/** What the core answers; each adapter writes it with its own response object. */
export interface AdminResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** The method and path of each route, relative to where the admin is mounted. */
export const ADMIN_ROUTES: readonly { route: AdminRoute; method: 'GET' | 'POST'; path: string }[] = [
  { route: 'page', method: 'GET', path: '/admin/' },
  { route: 'redirect', method: 'GET', path: '/admin' },
  { route: 'status', method: 'GET', path: '/admin/consistency/status' },
  { route: 'check', method: 'POST', path: '/admin/consistency/check' },
  { route: 'history', method: 'GET', path: '/admin/consistency/history' },
  { route: 'inspect', method: 'GET', path: '/admin/internal/caches/:cache/:key' },
  { route: 'metrics', method: 'GET', path: '/metrics' },
]

/** Finds the route of a method and path (no query), with its path parameters. */
export function matchRoute(
  method: string,
  path: string,
): { route: AdminRoute; params: Record<string, string> } | undefined {
  for (const r of ADMIN_ROUTES) {
    if (r.method !== method && !(r.method === 'GET' && method === 'HEAD')) continue
    const want = r.path.split('/')
    const got = path.split('/')
    if (want.length !== got.length) continue
    const params: Record<string, string> = {}
    const same = want.every((part, i) => {
      if (!part.startsWith(':')) return part === got[i]
      if (got[i] === '') return false
      params[part.slice(1)] = safeDecode(got[i]!)
      return true
    })
    if (same) return { route: r.route, params }
  }
  return undefined
}

export interface AdminCore {
  serve(request: AdminRequest): Promise<AdminResponse>
  status(): Promise<ConsistencyStatus>
  readonly registry: Registry
}

const checkBody = z
  .object({ budget: z.number().int().nonnegative().optional(), repair: z.boolean().optional() })
  .strict()
  .optional()

const NO_STORE = { 'cache-control': 'no-store' }

/**
 * The admin API without a web framework: options parsed once, the token checked in one place for every route
 * that needs it, and each route's answer as plain status, headers and body.
 */
export function createAdminCore(where: string, options: AdminOptions): AdminCore {
  const o = parseOptions(where, schema, options)
  const registry = o.registry ?? new Registry()
  const matches = tokenGuard(o.token)
  const sources = o.sources
  const status = () => collectStatus(sources, o.sourceTimeout, o.onError)
  registerStatusMetrics(registry, status)
  const page = dashboardPage({
    title: o.title,
    pollMs: o.pollInterval,
    canRunCheck: sources.checker !== undefined,
  })
  const open = new Set<AdminRoute>(o.metricsAuth === 'open' ? ['redirect', 'metrics'] : ['redirect'])

  async function answer(request: AdminRequest): Promise<AdminResponse> {
    switch (request.route) {
      case 'page':
        return {
          status: 200,
          headers: {
            'content-type': 'text/html; charset=utf-8',
            'content-security-policy': page.csp,
            'cache-control': 'no-store',
            'referrer-policy': 'no-referrer',
            'x-content-type-options': 'nosniff',
            'x-frame-options': 'DENY',
          },
          body: page.html,
        }
      case 'redirect':
        // Relative, so a mount prefix is kept.
        return { status: 302, headers: { location: `admin/${request.search}` }, body: '' }
      case 'status':
        return json(200, await status(), NO_STORE)
      case 'check': {
        if (!sources.checker) return json(404, { error: 'no checker is wired to the admin routes' })
        const body = checkBody.safeParse(request.body ?? undefined)
        if (!body.success) {
          return json(400, { error: `invalid check request: ${body.error.issues[0]?.message ?? 'bad body'}` })
        }
        return json(200, await sources.checker.run(body.data))
      }
      case 'history':
        if (!sources.checker) return json(404, { error: 'no checker is wired to the admin routes' })
        return json(200, sources.checker.history())
      case 'inspect': {
        if (!sources.inspect) return json(404, { error: 'no cache inspection is wired' })
        const { cache = '', key = '' } = request.params ?? {}
        const state = await sources.inspect(cache, key)
        if (state === undefined) return json(404, { error: `no cache named ${JSON.stringify(cache)}` })
        return json(200, state, NO_STORE)
      }
      case 'metrics':
        return {
          status: 200,
          headers: { 'content-type': registry.contentType, ...NO_STORE },
          body: await registry.metrics(),
        }
    }
  }

  return {
    async serve(request) {
      if (!open.has(request.route) && !matches(presentedToken(request.headers, request.query))) {
        return unauthorized(request.route)
      }
      return answer(request)
    },
    status,
    registry,
  }
}

/** 401, never echoing what was presented; the page gets a line a person can act on. */
function unauthorized(route: AdminRoute): AdminResponse {
  const headers = { 'www-authenticate': 'Bearer realm="concord-admin"', ...NO_STORE }
  if (route === 'page') {
    return {
      status: 401,
      headers: { ...headers, 'content-type': 'text/html; charset=utf-8' },
      body:
        '<!doctype html><meta charset="utf-8"><title>401</title><p>401 Unauthorized: open the URL the demo printed ' +
        '(it carries <code>?token=</code>), or send <code>Authorization: Bearer &lt;token&gt;</code>.</p>',
    }
  }
  return json(401, { error: 'unauthorized: send Authorization: Bearer <token> or ?token=' }, headers)
}

function json(status: number, value: unknown, headers: Record<string, string> = {}): AdminResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(value),
  }
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}
