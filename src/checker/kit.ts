/**
 * The parts of concord/checker that adapters (src/redis, src/pg, src/nats, src/memory, ...) are built from.
 * Not a public subpath: other concept modules import `index.ts`, adapters this file.
 */
export type { Checker, CheckerTotals } from './checker.js'
export type { ConvergenceStats, ConvergenceTracer, Violation } from './tracer.js'
export type { CheckReport } from './types.js'
