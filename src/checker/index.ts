/**
 * concord/checker: the consistency checker (docs/contract.md, C8) and the convergence tracer.
 *
 * - `createChecker({ comparators, budget })` samples each data set, compares every copy (a cache tier, another
 *   service's cache, a projection) with the source of truth, confirms, repairs with the copy's policy, verifies,
 *   and reports; on demand (`run()`) or on a schedule (`start()`).
 * - `createConvergenceTracer({ probes })` follows sampled writes to every copy and measures how long each path
 *   takes to show them (`concord_convergence_seconds`); copies that never do are violations.
 */
export {
  type Checker,
  type CheckerOptions,
  type CheckerTotals,
  type CheckRunOptions,
  createChecker,
} from './checker.js'
export { compareRecords, compareVersions } from './compare.js'
export { AlertFailedError, ComparatorFailedError, DuplicateNameError } from './errors.js'
export { cacheCopy, cacheProbe, httpProbe, type InspectableCache } from './probes.js'
export {
  type ConvergenceStats,
  type ConvergenceTracer,
  type ConvergenceTracerOptions,
  createConvergenceTracer,
  type PathStats,
  type Probe,
  type Trace,
  type Violation,
} from './tracer.js'
export type {
  CheckerMetrics,
  CheckReport,
  Comparator,
  ComparatorReport,
  Copy,
  CopyCounts,
  Divergence,
  DivergenceKind,
  TracerMetrics,
  Version,
  Versioned,
} from './types.js'
