/**
 * concord/admin: the status API, Prometheus metrics and the live dashboard of a concord deployment.
 *
 * `createAdminHandler({ token, sources, registry })` is a plain `(req, res, next?)` handler for node:http, Express
 * and Nest; `createAdminRoutes(app, options)` mounts the same routes on fastify. Both serve `GET /admin/` (the
 * dashboard), `GET /admin/consistency/status`, `POST /admin/consistency/check`, `GET /admin/consistency/history`
 * and `GET /metrics`. Sources are small providers the application wires (`shards.health()`, `cache.stats()`,
 * `relay.status()`, `engine.counts()`, `broker.health()`, the checker and the convergence tracer).
 */
export { presentedToken, redactToken, tokenGuard } from './auth.js'
export type { AdminRequest, AdminResponse, AdminRoute } from './core.js'
export { AdminSourceError } from './errors.js'
export { type AdminHandler, createAdminHandler } from './handler.js'
export type { AdminOptions } from './options.js'
export { type AdminHandle, createAdminRoutes, dashboardUrl } from './routes.js'
export type {
  AdminSources,
  BrokerHealthLike,
  CacheStatsLike,
  ChangeFeedLike,
  OutboxShardLike,
  ReplicaLag,
} from './sources.js'
export type { CacheStatus, ConsistencyStatus } from './status.js'
