import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { ADMIN_ROUTES, createAdminCore } from './core.js'
import type { AdminOptions } from './options.js'
import type { ConsistencyStatus } from './status.js'

/** What `createAdminRoutes` gives back: the status collector and the registry `/metrics` serves. */
export interface AdminHandle {
  /** Collects the status now (what `GET /admin/consistency/status` answers). */
  status(): Promise<ConsistencyStatus>
  readonly registry: Registry
}

/**
 * Adds the admin API to a fastify app: the routes of `createAdminHandler`,
 * routed by fastify and answered by the same core, so the token check and the answers are identical.
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
  const core = createAdminCore('createAdminRoutes', options)
  for (const { route, method, path } of ADMIN_ROUTES) {
    // An app with `ignoreTrailingSlash` already serves /admin as /admin/ (or the app has its own /admin).
    if (route === 'redirect' && app.hasRoute({ method: 'GET', url: '/admin' })) continue
    app.route({
      method,
      url: path,
      handler: async (request, reply) => {
        const at = request.url.indexOf('?')
        const search = at < 0 ? '' : request.url.slice(at)
        const response = await core.serve({
          route,
          headers: request.headers,
          query: new URLSearchParams(search),
          search,
          params: request.params as Record<string, string>,
          body: request.body ?? undefined,
        })
        return reply.code(response.status).headers(response.headers).send(response.body)
      },
    })
  }
  return { status: core.status, registry: core.registry }
}

/** The dashboard's URL carrying the token, for a demo to print: `${baseUrl}/admin/?token=...`. */
export function dashboardUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/admin/?token=${encodeURIComponent(token)}`
}
