import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { CheckerMetrics, TracerMetrics } from '../checker/index.js'

/**
 * A metric of `registry` by name, created on first use. Two checkers (or a checker and a tracer created twice in
 * tests) on one registry share the metric instead of failing on a duplicate name.
 */
function metric<M>(registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create()
}

/** The checker's metrics in `registry`: pass the result as `createChecker({ metrics })`. */
export function checkerMetrics(registry: Registry): CheckerMetrics {
  const labelNames = ['comparator', 'copy'] as const
  const counter = (name: string, help: string) =>
    metric(registry, name, () => new Counter({ name, help, labelNames, registers: [registry] }))
  const checked = counter(
    'concord_checker_checked_total',
    'Source-versus-copy comparisons made by the checker',
  )
  const inconsistent = counter(
    'concord_checker_inconsistent_total',
    'Divergences the checker found and confirmed (one key in one copy)',
  )
  const repaired = counter('concord_checker_repaired_total', 'Divergences the checker repaired and verified')
  const errors = metric(
    registry,
    'concord_checker_errors_total',
    () =>
      new Counter({
        name: 'concord_checker_errors_total',
        help: 'Failed sample, source, read or repair calls of the checker',
        labelNames: ['comparator'],
        registers: [registry],
      }),
  )
  const runs = metric(
    registry,
    'concord_checker_runs_total',
    () => new Counter({ name: 'concord_checker_runs_total', help: 'Checker runs', registers: [registry] }),
  )
  const duration = metric(
    registry,
    'concord_checker_run_duration_seconds',
    () =>
      new Histogram({
        name: 'concord_checker_run_duration_seconds',
        help: 'Duration of checker runs',
        buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers: [registry],
      }),
  )
  const last = metric(
    registry,
    'concord_checker_last_run_inconsistent',
    () =>
      new Gauge({
        name: 'concord_checker_last_run_inconsistent',
        help: 'Divergences found by the last checker run',
        labelNames: ['comparator'],
        registers: [registry],
      }),
  )
  const record = (report: Parameters<CheckerMetrics['record']>[0]) => {
    runs.inc()
    duration.observe(report.durationMs / 1000)
    for (const [comparator, c] of Object.entries(report.byComparator)) {
      last.set({ comparator }, c.inconsistent)
      if (c.errors > 0) errors.inc({ comparator }, c.errors)
      for (const [copy, counts] of Object.entries(c.byCopy)) {
        // inc(0) still creates the series, so dashboards see a 0 rather than no data.
        checked.inc({ comparator, copy }, counts.checked)
        inconsistent.inc({ comparator, copy }, counts.inconsistent)
        repaired.inc({ comparator, copy }, counts.repaired)
      }
    }
  }
  return { record }
}

const shares = new WeakMap<Registry, () => number>()

/** Default buckets of `concord_convergence_seconds`, in seconds. */
export const CONVERGENCE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** The convergence tracer's metrics in `registry`: pass the result as `createConvergenceTracer({ metrics })`. */
export function tracerMetrics(registry: Registry, buckets: number[] = CONVERGENCE_BUCKETS): TracerMetrics {
  const histogram = metric(
    registry,
    'concord_convergence_seconds',
    () =>
      new Histogram({
        name: 'concord_convergence_seconds',
        help: 'Time from a committed write until a copy shows it, per path (sampled writes)',
        labelNames: ['path'],
        buckets,
        registers: [registry],
      }),
  )
  const violations = metric(
    registry,
    'concord_convergence_violations_total',
    () =>
      new Counter({
        name: 'concord_convergence_violations_total',
        help: 'Sampled writes a copy did not show within the tracer timeout',
        labelNames: ['path'],
        registers: [registry],
      }),
  )
  // Read at scrape time, so the gauge is right even when no write was traced lately; the newest tracer on a
  // registry is the one it reads.
  metric(
    registry,
    'concord_convergence_within_1s_ratio',
    () =>
      new Gauge({
        name: 'concord_convergence_within_1s_ratio',
        help: 'Share of traced (write, path) pairs that converged within 1 s',
        registers: [registry],
        collect() {
          this.set(shares.get(registry)?.() ?? 1)
        },
      }),
  )
  return {
    observe: (path: string, seconds: number) => histogram.observe({ path }, seconds),
    violation: (path: string) => violations.inc({ path }),
    share: (fn: () => number) => shares.set(registry, fn),
  }
}
