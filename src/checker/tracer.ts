import { z } from 'zod'
import { ClosedError, InvalidInputError } from '../errors.js'
import { type Duration, duration, parseOptions } from '../options.js'
import { compareVersions } from './compare.js'
import { DuplicateNameError, message } from './errors.js'
import type { TracerMetrics, Version } from './types.js'
import { Window } from './window.js'

/** One copy the tracer watches: an instance's L1 (through an internal call), L2, another cache, a projection. */
export interface Probe {
  /** Labels the path in metrics and stats (`'product-2:l1'`, `'l2'`, `'order-cache'`, `'search'`). */
  path: string
  /** The version the copy holds for `key` now, or `undefined`/`null` when it holds none. Must not load or fill. */
  read(key: string): Promise<Version | undefined | null>
  /**
   * Whether a copy holding nothing shows the write. Caches: `true` (an absent entry is loaded from the source,
   * so it cannot serve the old value). Projections: `false` (the row must appear). @default false
   */
  absentIsConverged?: boolean
}

export const schema = z.object({
  /** Share of `track()` calls that are traced, 0..1. @default 0.01 */
  sampleRate: z.number().min(0).max(1).default(0.01),
  probes: z
    .array(
      z.custom<Probe>(
        (v) => typeof (v as Probe)?.path === 'string' && typeof (v as Probe).read === 'function',
        'a probe: { path, read(key) }',
      ),
    )
    .min(1),
  /** A copy that does not show the write this long after it was written is a violation. @default '10s' */
  timeout: duration.default(10_000),
  /** First pause between probes of a path; doubles up to `maxInterval`. @default '5ms' */
  interval: duration.default(5),
  /** Longest pause between probes: convergence times are upper bounds within it. @default '100ms' */
  maxInterval: duration.default(100),
  /** Traces at once; further writes are not traced (counted as `dropped`). @default 1000 */
  maxInFlight: z.number().int().positive().default(1000),
  /** Violations kept by `violations()`, newest last. @default 100 */
  maxViolations: z.number().int().nonnegative().default(100),
  /** Convergence times kept per path for the percentiles in `stats()`. @default 1000 */
  window: z.number().int().positive().default(1000),
  /** Where convergence times and violations are counted: `tracerMetrics(registry)` of concord/prometheus. */
  metrics: z
    .custom<TracerMetrics>((v) => typeof (v as TracerMetrics)?.observe === 'function', 'a TracerMetrics')
    .optional(),
  /** Decides sampling; tests pass their own. @default Math.random */
  random: z.custom<() => number>((v) => typeof v === 'function').default(() => Math.random),
  onViolation: z.custom<(violation: Violation) => void>((v) => typeof v === 'function').optional(),
})

/** Options of `createConvergenceTracer`. */
export interface ConvergenceTracerOptions {
  probes: Probe[]
  /** Share of `track()` calls that are traced, 0..1. @default 0.01 */
  sampleRate?: number
  /** A copy that does not show the write this long after it was written is a violation. @default '10s' */
  timeout?: Duration
  /** First pause between probes of a path; doubles up to `maxInterval`. @default '5ms' */
  interval?: Duration
  /** Longest pause between probes: convergence times are upper bounds within it. @default '100ms' */
  maxInterval?: Duration
  /** Traces at once; further writes are not traced (counted as `dropped`). @default 1000 */
  maxInFlight?: number
  /** Violations kept by `violations()`, newest last. @default 100 */
  maxViolations?: number
  /** Convergence times kept per path for the percentiles in `stats()`. @default 1000 */
  window?: number
  /** Where convergence times and violations are counted: `tracerMetrics(registry)` of concord/prometheus. */
  metrics?: TracerMetrics
  /** Decides sampling; tests pass their own. @default Math.random */
  random?: () => number
  /** Hears each violation as it is found, for logs and alerts. */
  onViolation?: (violation: Violation) => void
}

/** A copy that did not show a write within the timeout. */
export interface Violation {
  key: string
  version: string
  path: string
  /** ISO time of the write. */
  writtenAt: string
  /** What the copy held at the last probe (`null`: nothing, `undefined`: every probe failed). */
  lastSeen: string | null | undefined
  lastError?: string
}

/** The outcome of one traced write: seconds to convergence per path, or `null` for a violation. */
export type Trace = Record<string, number | null>

/** Convergence of one path: how many traced writes it showed in time, how many it missed, and how fast. */
export interface PathStats {
  path: string
  converged: number
  violations: number
  /** Share of this path's finished traces that converged within 1 s (1 when none finished). */
  within1sShare: number
  /** Over the last `window` convergences, in ms. */
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/** What a tracer saw: writes traced, skipped and dropped, and per path. */
export interface ConvergenceStats {
  /** Writes traced, not traced by sampling, and not traced for `maxInFlight`. */
  traced: number
  skipped: number
  dropped: number
  inFlight: number
  /** Share of finished (write, path) traces that converged within 1 s (1 when none finished). */
  convergedWithin1sShare: number
  violations: number
  paths: PathStats[]
}

/** Measures how long each copy (L1s, L2, other caches, projections) takes to show a committed write. */
export interface ConvergenceTracer {
  /**
   * Reports a committed write of `key` at `version`. For a sampled share of writes, probes every path until
   * it shows `version` or newer (or, per probe, nothing), records the time since `writtenAt` (ms since the
   * epoch; default now) in `concord_convergence_seconds{path}`, and resolves with the times. Returns
   * `undefined` for a write that is not traced. Never rejects.
   */
  track(key: string, version: Version, writtenAt?: number): Promise<Trace> | undefined
  /** Share of finished (write, path) traces that converged within 1 s. */
  readonly convergedWithin1sShare: number
  /** Counts and per-path convergence percentiles so far. */
  stats(): ConvergenceStats
  /** The last `maxViolations` violations, oldest first. */
  violations(): Violation[]
  /** Stops probing; traces in flight resolve without their unfinished paths. Idempotent. Later `track` throws. */
  close(): Promise<void>
}

/**
 * A convergence tracer, as Meta's Polaris runs in production: it watches sampled writes reach every copy and
 * measures how long each path takes; copies that never converge are violations (docs/contract.md, C2 and C7).
 */
export function createConvergenceTracer(options: ConvergenceTracerOptions): ConvergenceTracer {
  const o = parseOptions('createConvergenceTracer', schema, options)
  const paths = new Map<
    string,
    { probe: Probe; converged: number; fast: number; violations: number; window: Window }
  >()
  for (const probe of o.probes) {
    if (paths.has(probe.path)) throw new DuplicateNameError('probe path', probe.path)
    paths.set(probe.path, { probe, converged: 0, fast: 0, violations: 0, window: new Window(o.window) })
  }
  const m = o.metrics
  const violations: Violation[] = []
  const counts = { traced: 0, skipped: 0, dropped: 0, inFlight: 0 }
  const timers = new Set<{ timer: NodeJS.Timeout; wake: () => void }>()
  let closed = false

  const share = () => {
    let fast = 0
    let finished = 0
    for (const p of paths.values()) {
      fast += p.fast
      finished += p.converged + p.violations
    }
    return finished === 0 ? 1 : fast / finished
  }
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const entry = { timer: setTimeout(() => done(), ms), wake: () => done() }
      const done = () => {
        clearTimeout(entry.timer)
        timers.delete(entry)
        resolve()
      }
      timers.add(entry)
    })

  const follow = async (
    key: string,
    version: Version,
    writtenAt: number,
    path: string,
  ): Promise<number | null> => {
    const p = paths.get(path)!
    let wait = o.interval
    let lastSeen: string | null | undefined
    let lastError: string | undefined
    while (!closed) {
      try {
        const seen = await p.probe.read(key)
        lastSeen = seen === undefined || seen === null ? null : String(seen)
        const shows =
          seen === undefined || seen === null
            ? p.probe.absentIsConverged === true
            : compareVersions(seen, version) >= 0
        if (shows) {
          const seconds = Math.max(0, Date.now() - writtenAt) / 1000
          p.converged++
          if (seconds <= 1) p.fast++
          p.window.add(seconds * 1000)
          m?.observe(path, seconds)
          return seconds
        }
      } catch (error) {
        lastError = message(error)
      }
      if (Date.now() - writtenAt >= o.timeout) break
      await pause(Math.min(wait, Math.max(0, writtenAt + o.timeout - Date.now())))
      wait = Math.min(wait * 2, o.maxInterval)
    }
    if (closed) return null
    p.violations++
    m?.violation(path)
    const violation: Violation = {
      key,
      version: String(version),
      path,
      writtenAt: new Date(writtenAt).toISOString(),
      lastSeen,
      ...(lastError !== undefined && { lastError }),
    }
    if (o.maxViolations > 0) {
      violations.push(violation)
      if (violations.length > o.maxViolations) violations.shift()
    }
    try {
      o.onViolation?.(violation)
    } catch {
      // a failing hook must not leave the trace unsettled
    }
    return null
  }

  m?.share(share)

  const tracer: ConvergenceTracer = {
    track(key, version, writtenAt = Date.now()) {
      if (closed) throw new ClosedError('convergence tracer')
      if (typeof key !== 'string' || key === '') throw new InvalidInputError('key must be a non-empty string')
      if (!['number', 'bigint', 'string'].includes(typeof version)) {
        throw new InvalidInputError('version must be a number, bigint or string', {
          version: String(version),
        })
      }
      if (o.random() >= o.sampleRate) {
        counts.skipped++
        return undefined
      }
      if (counts.inFlight >= o.maxInFlight) {
        counts.dropped++
        return undefined
      }
      counts.traced++
      counts.inFlight++
      return Promise.all(
        [...paths.keys()].map(async (path) => [path, await follow(key, version, writtenAt, path)] as const),
      ).then((entries) => {
        counts.inFlight--
        return Object.fromEntries(entries)
      })
    },
    get convergedWithin1sShare() {
      return share()
    },
    stats: () => ({
      ...counts,
      convergedWithin1sShare: share(),
      violations: [...paths.values()].reduce((sum, p) => sum + p.violations, 0),
      paths: [...paths.entries()].map(([path, p]) => {
        const s = p.window.summary()
        const finished = p.converged + p.violations
        return {
          path,
          converged: p.converged,
          violations: p.violations,
          within1sShare: finished === 0 ? 1 : p.fast / finished,
          p50Ms: s.p50,
          p99Ms: s.p99,
          maxMs: s.max,
        }
      }),
    }),
    violations: () => [...violations],
    async close() {
      closed = true
      for (const t of [...timers]) t.wake()
    },
  }
  return tracer
}
