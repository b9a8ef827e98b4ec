import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { z } from 'zod'
import { type Duration, duration, parseOptions } from '../options.js'
import { requireToken, tokenGuard } from './auth.js'
import { dashboardPage } from './dashboard-page.js'
import type { AdminSourceError } from './errors.js'
import type { AdminSources } from './sources.js'
import { type ConsistencyStatus, collectStatus } from './status.js'
import { registerStatusMetrics } from './status-metrics.js'

export const schema = z.object({
  /**
   * The admin token (at least 16 characters; e.g. `randomBytes(24).toString('base64url')`). Requests send it as
   * `Authorization: Bearer <token>` or `?token=<token>` (the dashboard URL). Compared in constant time; never
   * logged or echoed.
   */
  token: z.string().min(16, 'at least 16 characters'),
  /** Providers of the status sections; see `AdminSources`. */
  sources: z.custom<AdminSources>((v) => typeof v === 'object' && v !== null, 'an object of status sources'),
  /**
   * The registry `GET /metrics` serves. Pass the one given to `createCache`, `createChecker` and
   * `createConvergenceTracer` so their metrics are served too. @default a new Registry
   */
  registry: z
    .custom<Registry>((v) => typeof (v as Registry)?.registerMetric === 'function', 'a prom-client Registry')
    .optional(),
  /**
   * `'token'`: `/metrics` needs the token like the admin routes (Prometheus sends it with
   * `authorization: { credentials: <token> }`). `'open'`: anyone who reaches the port can scrape.
   * @default 'token'
   */
  metricsAuth: z.enum(['token', 'open']).default('token'),
  /** Bound on each status source. @default '2s' */
  sourceTimeout: duration.default(2000),
  /** How often the dashboard polls the status. @default '1s' */
  pollInterval: duration.default(1000),
  /** Shown in the dashboard's title. @default 'concord' */
  title: z.string().min(1).max(80).default('concord'),
  /** Receives each failing status source (the status still answers, with that section `null`). */
  onError: z.custom<(error: AdminSourceError) => void>((v) => typeof v === 'function').optional(),
})

export interface AdminOptions {
  /**
   * The admin token (at least 16 characters; e.g. `randomBytes(24).toString('base64url')`). Requests send it as
   * `Authorization: Bearer <token>` or `?token=<token>` (the dashboard URL). Compared in constant time; never
   * logged or echoed.
   */
  token: string
  /** Providers of the status sections; see `AdminSources`. */
  sources: AdminSources
  /**
   * The registry `GET /metrics` serves. Pass the one given to `createCache`, `createChecker` and
   * `createConvergenceTracer` so their metrics are served too. @default a new Registry
   */
  registry?: Registry
  /**
   * `'token'`: `/metrics` needs the token like the admin routes (Prometheus sends it with
   * `authorization: { credentials: <token> }`). `'open'`: anyone who reaches the port can scrape.
   * @default 'token'
   */
  metricsAuth?: 'token' | 'open'
  /** Bound on each status source. @default '2s' */
  sourceTimeout?: Duration
  /** How often the dashboard polls the status. @default '1s' */
  pollInterval?: Duration
  /** Shown in the dashboard's title. @default 'concord' */
  title?: string
  /** Receives each failing status source (the status still answers, with that section `null`). */
  onError?: (error: AdminSourceError) => void
}

/** What `createAdminRoutes` gives back: the status collector and the registry `/metrics` serves. */
export interface AdminHandle {
  /** Collects the status now (what `GET /admin/consistency/status` answers). */
  status(): Promise<ConsistencyStatus>
  readonly registry: Registry
}

/**
 * Adds the admin API to a fastify app (DESIGN.md, the shop's HTTP API):
 *
 * - `GET /admin/` the live dashboard page; `GET /admin` redirects to it (keeping the query).
 * - `GET /admin/consistency/status` the status JSON (`ConsistencyStatus`).
 * - `POST /admin/consistency/check` runs the checker now (body `{ budget?, repair? }`) and answers its report;
 *   `GET /admin/consistency/history` the checker's recent reports. 404 without a checker source.
 * - `GET /admin/internal/caches/:cache/:key` a key's raw state in this process's caches (`sources.inspect`), for
 *   convergence probes from another process.
 * - `GET /metrics` Prometheus text format, the registry's metrics plus replication, outbox, saga, broker and
 *   bus gauges read from the sources at each scrape.
 *
 * Every route but the redirect answers 401 without the token (`/metrics` too, unless `metricsAuth: 'open'`).
 *
 * @example
 * const registry = new Registry()
 * createAdminRoutes(app, {
 *   token: process.env.ADMIN_TOKEN!,
 *   registry,
 *   sources: {
 *     replication: () => shards.health(),
 *     caches: () => instances.map((i) => i.products.stats()),
 *     outbox: () => createOutboxAdmin({ shards }).status(),
 *     sagas: () => createSagaAdmin({ log }).counts(),
 *     broker: () => broker.health(),
 *     checker,
 *     convergence: tracer,
 *   },
 * })
 */
export function createAdminRoutes(app: FastifyInstance, options: AdminOptions): AdminHandle {
  const o = parseOptions('createAdminRoutes', schema, options)
  const registry = o.registry ?? new Registry()
  const matches = tokenGuard(o.token)
  const guard = requireToken(matches)
  const sources = o.sources
  const status = () => collectStatus(sources, o.sourceTimeout, o.onError)
  registerStatusMetrics(registry, status)
  const page = dashboardPage({
    title: o.title,
    pollMs: o.pollInterval,
    canRunCheck: sources.checker !== undefined,
  })

  app.get('/admin/', { onRequest: guard }, async (_request, reply) =>
    reply
      .header('content-security-policy', page.csp)
      .header('cache-control', 'no-store')
      .header('referrer-policy', 'no-referrer')
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .type('text/html; charset=utf-8')
      .send(page.html),
  )

  // A relative redirect keeps a route prefix; an app with `ignoreTrailingSlash` already serves /admin as /admin/.
  if (!app.hasRoute({ method: 'GET', url: '/admin' })) {
    app.get('/admin', async (request, reply) => {
      const query = request.url.indexOf('?')
      return reply.redirect(`admin/${query < 0 ? '' : request.url.slice(query)}`, 302)
    })
  }

  app.get('/admin/consistency/status', { onRequest: guard }, async (_request, reply) => {
    reply.header('cache-control', 'no-store')
    return status()
  })

  const checkBody = z
    .object({ budget: z.number().int().nonnegative().optional(), repair: z.boolean().optional() })
    .strict()
    .optional()
  app.post('/admin/consistency/check', { onRequest: guard }, async (request, reply) => {
    if (!sources.checker) return reply.code(404).send({ error: 'no checker is wired to the admin routes' })
    const body = checkBody.safeParse(request.body ?? undefined)
    if (!body.success) {
      return reply
        .code(400)
        .send({ error: `invalid check request: ${body.error.issues[0]?.message ?? 'bad body'}` })
    }
    return sources.checker.run(body.data)
  })

  app.get('/admin/consistency/history', { onRequest: guard }, async (_request, reply) => {
    if (!sources.checker) return reply.code(404).send({ error: 'no checker is wired to the admin routes' })
    return sources.checker.history()
  })

  app.get('/admin/internal/caches/:cache/:key', { onRequest: guard }, async (request, reply) => {
    if (!sources.inspect) return reply.code(404).send({ error: 'no cache inspection is wired' })
    const { cache, key } = request.params as { cache: string; key: string }
    const state = await sources.inspect(cache, key)
    if (state === undefined) return reply.code(404).send({ error: `no cache named ${JSON.stringify(cache)}` })
    reply.header('cache-control', 'no-store')
    return state
  })

  app.get('/metrics', { onRequest: o.metricsAuth === 'token' ? guard : [] }, async (_request, reply) => {
    reply.header('cache-control', 'no-store').type(registry.contentType)
    return registry.metrics()
  })

  return { status, registry }
}

/** The dashboard's URL carrying the token, for a demo to print: `${baseUrl}/admin/?token=...`. */
export function dashboardUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/admin/?token=${encodeURIComponent(token)}`
}
