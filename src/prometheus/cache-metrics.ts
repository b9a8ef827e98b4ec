import { Counter, Gauge, type Registry } from 'prom-client'
import type { CacheStats } from '../cache/kit.js'

interface Source {
  readonly name: string
  readonly instanceId: string
  stats(): CacheStats
}

type Reader = (s: CacheStats) => [labels: Record<string, string>, value: number][]

/** Caches reporting into each registry; the metrics are created once per registry and read every source. */
const sources = new WeakMap<Registry, Set<Source>>()

/**
 * Registers a cache's metrics in `registry` (never the global one). Values are read from `stats()` when
 * Prometheus scrapes, so the hit path only bumps plain counters. Returns a function that unregisters the cache.
 */
export function registerCacheMetrics(registry: Registry, source: Source): () => void {
  let set = sources.get(registry)
  if (set === undefined) {
    set = new Set()
    sources.set(registry, set)
    define(registry, set)
  }
  set.add(source)
  return () => set.delete(source)
}

function define(registry: Registry, set: Set<Source>): void {
  type Labels = Record<string, string>
  const each = (read: Reader, put: (labels: Labels, value: number) => void) => {
    for (const source of set) {
      const base = { cache: source.name, instance: source.instanceId }
      for (const [labels, value] of read(source.stats())) put({ ...base, ...labels }, value)
    }
  }
  const counter = (name: string, help: string, extra: string[], read: Reader) =>
    new Counter({
      name,
      help,
      labelNames: ['cache', 'instance', ...extra],
      registers: [registry],
      collect() {
        this.reset()
        each(read, (labels, value) => this.inc(labels, value))
      },
    })
  const gauge = (name: string, help: string, extra: string[], read: Reader) =>
    new Gauge({
      name,
      help,
      labelNames: ['cache', 'instance', ...extra],
      registers: [registry],
      collect() {
        this.reset()
        each(read, (labels, value) => this.set(labels, value))
      },
    })
  counter('concord_cache_hits_total', 'Cache hits per tier', ['tier'], (s) => [
    [{ tier: 'l1' }, s.l1.hits],
    [{ tier: 'l2' }, s.l2.hits],
  ])
  counter('concord_cache_misses_total', 'Cache misses per tier', ['tier'], (s) => [
    [{ tier: 'l1' }, s.l1.misses],
    [{ tier: 'l2' }, s.l2.misses],
  ])
  gauge('concord_cache_hit_ratio', 'Hit rate per tier since start', ['tier'], (s) => [
    [{ tier: 'l1' }, s.l1.hitRate],
    [{ tier: 'l2' }, s.l2.hitRate],
  ])
  counter('concord_cache_loads_total', 'Loader calls', [], (s) => [[{}, s.loads]])
  counter('concord_cache_load_errors_total', 'Loader failures', [], (s) => [[{}, s.loadErrors]])
  counter('concord_cache_grace_served_total', 'Stale values served on loader failure', [], (s) => [
    [{}, s.graceServed],
  ])
  counter('concord_cache_fencing_rejected_total', 'Fills refused by fencing (C3)', ['tier'], (s) => [
    [{ tier: 'l1' }, s.fencingRejected.l1],
    [{ tier: 'l2' }, s.fencingRejected.l2],
  ])
  counter('concord_cache_bus_messages_total', 'Invalidation bus messages', ['direction'], (s) => [
    [{ direction: 'in' }, s.bus.messagesIn],
    [{ direction: 'out' }, s.bus.messagesOut],
  ])
  gauge('concord_cache_bus_lag_ms', 'Invalidation bus delivery delay', ['quantile'], (s) => [
    [{ quantile: '0.5' }, s.bus.lagMs.p50],
    [{ quantile: '0.99' }, s.bus.lagMs.p99],
  ])
  gauge('concord_cache_bus_healthy', '1 while the bus is healthy (L1 in use)', [], (s) => [
    [{}, s.bus.healthy ? 1 : 0],
  ])
  counter('concord_cache_l1_bypass_seconds_total', 'Time L1 was bypassed for an unhealthy bus', [], (s) => [
    [{}, s.bus.bypassMs / 1000],
  ])
  counter('concord_cache_errors_total', 'Absorbed cache faults', ['kind'], (s) =>
    Object.entries(s.errors).map(([kind, value]) => [{ kind }, value]),
  )
}
