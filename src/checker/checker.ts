import { z } from 'zod'
import { ClosedError } from '../errors.js'
import { type Duration, duration, parseOptions } from '../options.js'
import { AlertFailedError, type ComparatorFailedError, DuplicateNameError } from './errors.js'
import { runCheck } from './run.js'
import type { CheckerMetrics, CheckReport, Comparator } from './types.js'

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', what)
const isComparator = (v: unknown): v is Comparator => {
  const c = v as Comparator
  return (
    typeof c?.name === 'string' &&
    c.name.length > 0 &&
    typeof c.sample === 'function' &&
    typeof c.source === 'function' &&
    Array.isArray(c.copies) &&
    c.copies.every((copy) => typeof copy?.name === 'string' && typeof copy.read === 'function')
  )
}

export const schema = z.object({
  /** The data sets to check. */
  comparators: z
    .array(
      z.custom<Comparator>(isComparator, 'a comparator: { name, sample, source, copies: [{ name, read }] }'),
    )
    .min(1),
  /** Keys sampled per run, shared evenly by the comparators without their own `sampleSize`. @default 100 */
  budget: z.number().int().nonnegative().default(100),
  /** Keys checked at once per comparator. @default 8 */
  concurrency: z.number().int().positive().default(8),
  /**
   * Pause before the second read that confirms a suspected divergence. Set it above the projections' promised
   * convergence delay so a copy still catching up with a fresh write is not reported. @default 0
   */
  confirmAfter: duration.default(0),
  /** Run each copy's repair policy on confirmed divergences (false: report only). @default true */
  repair: z.boolean().default(true),
  /** Runs every `every` after `start()`; one run at a time, the next timed from the end of the last. */
  schedule: z.object({ every: duration.refine((ms) => ms > 0, 'a positive duration') }).optional(),
  /** Calls `hook` after a run that found more than `threshold` divergences (0: any). */
  alert: z
    .object({
      threshold: z.number().nonnegative().default(0),
      hook: fn<(report: CheckReport) => void | Promise<void>>('a function (report) => void'),
    })
    .optional(),
  /** Where each run's report is counted: `checkerMetrics(registry)` of concord/prometheus. @default none */
  metrics: z
    .custom<CheckerMetrics>(
      (v) => typeof (v as CheckerMetrics)?.record === 'function',
      'a CheckerMetrics ({ record })',
    )
    .optional(),
  /** Reports kept by `history()`. @default 50 */
  historySize: z.number().int().positive().default(50),
  /** Divergences and error messages kept per report. @default 20 */
  maxSamples: z.number().int().nonnegative().default(20),
  /** Receives each failed sample/source/read/repair call and alert hook failure. @default ignore (see reports) */
  onError: fn<(error: ComparatorFailedError | AlertFailedError) => void>('a function').optional(),
})

export interface CheckerOptions {
  /** The data sets to check. */
  comparators: Comparator<unknown>[]
  /** Keys sampled per run, shared evenly by the comparators without their own `sampleSize`. @default 100 */
  budget?: number
  /** Keys checked at once per comparator. @default 8 */
  concurrency?: number
  /**
   * Pause before the second read that confirms a suspected divergence. Set it above the projections' promised
   * convergence delay so a copy still catching up with a fresh write is not reported. @default 0
   */
  confirmAfter?: Duration
  /** Run each copy's repair policy on confirmed divergences (false: report only). @default true */
  repair?: boolean
  /** Runs every `every` after `start()`; one run at a time, the next timed from the end of the last. */
  schedule?: { every: Duration }
  /** Calls `hook` after a run that found more than `threshold` divergences (0: any). */
  alert?: {
    /** Gets the run's report (its divergences and repairs). */
    hook: (report: CheckReport) => void | Promise<void>
    /** Divergences a run may find without an alert. @default 0 */
    threshold?: number
  }
  /** Where each run's report is counted: `checkerMetrics(registry)` of concord/prometheus. @default none */
  metrics?: CheckerMetrics
  /** Reports kept by `history()`. @default 50 */
  historySize?: number
  /** Divergences and error messages kept per report. @default 20 */
  maxSamples?: number
  /** Receives each failed sample/source/read/repair call and alert hook failure. @default ignore (see reports) */
  onError?: (error: ComparatorFailedError | AlertFailedError) => void
}

/** Per-run overrides of `run()`. */
export interface CheckRunOptions {
  /** Keys sampled in this run. @default the checker's `budget` */
  budget?: number
  /** Repair confirmed divergences in this run. @default the checker's `repair` */
  repair?: boolean
}

/** Totals since the checker was created. */
export interface CheckerTotals {
  runs: number
  checked: number
  inconsistent: number
  repaired: number
  errors: number
}

/** Samples data sets, compares their copies with the source of truth, repairs, and keeps the reports. */
export interface Checker {
  /**
   * Runs a check now and resolves with its report. While a run is in flight (scheduled or not), returns that
   * run instead of starting a second one. Never rejects for a comparator's failure (see `report.errors`).
   */
  run(options?: CheckRunOptions): Promise<CheckReport>
  /** The last `historySize` reports, newest first. */
  history(): CheckReport[]
  /** The newest report, if any run finished. */
  lastReport(): CheckReport | undefined
  /** Runs, divergences found and repaired since the checker was created. */
  totals(): CheckerTotals
  /** Starts the schedule (the first run after `schedule.every`). Idempotent; a no-op without a schedule. */
  start(): void
  /** Stops the schedule and waits for a run in flight. Idempotent. Later `run()` calls reject with `ClosedError`. */
  close(): Promise<void>
}

/**
 * Creates a consistency checker (docs/contract.md, C8): each run samples up to `budget` keys, compares every copy
 * with the source, confirms each divergence with a second read, repairs it with the copy's policy and
 * verifies the repair, then records the report, the metrics and, above the threshold, calls the alert hook.
 *
 * @example
 * const checker = createChecker({ comparators: [products], budget: 200, schedule: { every: '30s' }, registry })
 * checker.start()
 */
export function createChecker(options: CheckerOptions): Checker {
  const o = parseOptions('createChecker', schema, options)
  const names = new Set<string>()
  for (const c of o.comparators) {
    if (names.has(c.name)) throw new DuplicateNameError('comparator', c.name)
    names.add(c.name)
    const copies = new Set<string>()
    for (const copy of c.copies) {
      if (copies.has(copy.name)) throw new DuplicateNameError('copy', `${c.name}/${copy.name}`)
      copies.add(copy.name)
    }
  }
  const reports: CheckReport[] = []
  const totals: CheckerTotals = { runs: 0, checked: 0, inconsistent: 0, repaired: 0, errors: 0 }
  const onError = o.onError ?? (() => {})
  let nextId = 1
  let inFlight: Promise<CheckReport> | undefined
  let timer: NodeJS.Timeout | undefined
  let scheduled = false
  let stopped = false

  const execute = async (trigger: CheckReport['trigger'], run: CheckRunOptions): Promise<CheckReport> => {
    const report = await runCheck(o.comparators, {
      id: nextId++,
      trigger,
      sampleSizes: split(o.comparators, run.budget ?? o.budget),
      concurrency: o.concurrency,
      confirmAfter: o.confirmAfter,
      repair: run.repair ?? o.repair,
      maxSamples: o.maxSamples,
      onError,
    })
    reports.unshift(report)
    if (reports.length > o.historySize) reports.length = o.historySize
    totals.runs++
    totals.checked += report.checked
    totals.inconsistent += report.inconsistent
    totals.repaired += report.repaired
    totals.errors += report.errors
    o.metrics?.record(report)
    if (o.alert && report.inconsistent > o.alert.threshold) {
      try {
        await o.alert.hook(report)
      } catch (error) {
        onError(new AlertFailedError(error))
      }
    }
    return report
  }

  const begin = (trigger: CheckReport['trigger'], run: CheckRunOptions = {}): Promise<CheckReport> => {
    inFlight ??= execute(trigger, run).finally(() => {
      inFlight = undefined
    })
    return inFlight
  }

  const arm = () => {
    if (!scheduled || stopped || !o.schedule) return
    timer = setTimeout(() => {
      timer = undefined
      begin('schedule')
        .catch(() => undefined) // a run reports its failures; nothing else can reject
        .finally(arm)
    }, o.schedule.every)
    timer.unref()
  }

  return {
    run(run) {
      if (stopped) return Promise.reject(new ClosedError('checker'))
      return begin('manual', run)
    },
    history: () => [...reports],
    lastReport: () => reports[0],
    totals: () => ({ ...totals }),
    start() {
      if (scheduled || stopped) return
      scheduled = true
      arm()
    },
    async close() {
      stopped = true
      scheduled = false
      if (timer) clearTimeout(timer)
      timer = undefined
      await inFlight?.catch(() => undefined)
    },
  }
}

/** Each comparator's keys for a run: its own `sampleSize`, else an even share of what the budget has left. */
export function split(comparators: readonly Comparator[], budget: number): number[] {
  const fixed = comparators.reduce((sum, c) => sum + (c.sampleSize ?? 0), 0)
  const shared = comparators.filter((c) => c.sampleSize === undefined).length
  const left = Math.max(0, budget - fixed)
  let extra = shared === 0 ? 0 : left % shared
  return comparators.map((c) => {
    if (c.sampleSize !== undefined) return c.sampleSize
    const share = Math.floor(left / shared) + (extra > 0 ? 1 : 0)
    if (extra > 0) extra--
    return share
  })
}
