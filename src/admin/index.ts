/**
 * concord/admin: the status API, Prometheus metrics and the live dashboard of a concord deployment.
 *
 * `createAdminRoutes(app, { token, sources, registry })` adds `GET /admin/` (the dashboard), `GET
 * /admin/consistency/status`, `POST /admin/consistency/check`, `GET /admin/consistency/history` and `GET /metrics`
 * to a fastify app. Sources are small providers the application wires (`shards.health()`, `cache.stats()`,
 * `relay.status()`, `engine.counts()`, `broker.health()`, the checker and the convergence tracer).
 */
export { redactToken, tokenGuard } from './auth.js'
export { AdminSourceError } from './errors.js'
export { type AdminHandle, type AdminOptions, createAdminRoutes, dashboardUrl } from './routes.js'
export type {
  AdminSources,
  BrokerHealthLike,
  CacheStatsLike,
  OutboxShardLike,
  ReplicaLag,
} from './sources.js'
export type { CacheStatus, ConsistencyStatus } from './status.js'
