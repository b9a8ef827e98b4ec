/**
 * What other folders of concord build on from this one (the adapters in src/redis, src/pg, ..., and modules layered
 * on it). Not a public subpath: the public API is index.ts.
 */
export type { Checker, CheckerTotals } from './checker.js'
export type { ConvergenceStats, ConvergenceTracer, Violation } from './tracer.js'
export type { CheckReport } from './types.js'
