import type { Registry } from 'prom-client'
import { z } from 'zod'
import { type Duration, duration } from '../options.js'
import type { AdminSourceError } from './errors.js'
import type { AdminSources } from './sources.js'

/** Options of `createAdminHandler` and `createAdminRoutes` (the same for every framework). */
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

/** Options of `createAdminHandler` and `createAdminRoutes`. */
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
