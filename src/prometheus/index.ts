/**
 * concord/prometheus: concord's metrics in a prom-client `Registry` (the optional peer dependency
 * `prom-client`). Nothing registers itself: the application passes its registry.
 */
export { registerCacheMetrics } from './cache-metrics.js'
export { checkerMetrics, tracerMetrics } from './checker-metrics.js'
