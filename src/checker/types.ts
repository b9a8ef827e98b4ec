/**
 * The checker's port: a comparator names a data set, samples its keys, reads the source of truth and each copy,
 * and knows how to repair a copy. The checker is generic: the shop plugs in product rows vs L2, vs the order
 * service's cache, vs the search projection.
 */

/** A version (aggregate version, row version, LSN as bigint). Numbers, bigints and integer strings are ordered. */
export type Version = number | bigint | string

/** One record as a store holds it. `version`, when both sides have one, is compared before the value. */
export interface Versioned<V = unknown> {
  version?: Version
  value: V
}

/** A copy of the data set (a cache tier, another service's cache, a projection). */
export interface Copy<V = unknown> {
  /** Names the copy in reports and metrics (`'l2'`, `'order-cache'`, `'search'`). */
  name: string
  /** The copy's record, or `undefined` when it holds none. Must not load, fill or count (use `cache.inspect`). */
  read(key: string): Promise<Versioned<V> | undefined>
  /**
   * Brings the copy back in line: drop the cache entry, re-project the row. Gets the source record as the
   * checker last read it (`undefined` when the source has none: delete the copy's). Absent: report only.
   */
  repair?(key: string, source: Versioned<V> | undefined): Promise<void>
  /**
   * Whether a copy that holds nothing for a key the source has is a divergence. Caches: `false` (an absent entry
   * is loaded from the source on the next read). Projections: `true` (the row should be there). @default false
   */
  required?: boolean
  /** Compare only these top-level fields (a projection that keeps a subset of the row). @default every field */
  fields?: readonly string[]
  /** Top-level fields this copy is allowed to differ in, on top of the comparator's `ignoreFields`. */
  ignoreFields?: readonly string[]
}

/** A data set to check: its source of truth and its copies. */
export interface Comparator<V = unknown> {
  /** Names the data set in reports and metrics (`'products'`). */
  name: string
  /** Up to `n` keys picked at random (e.g. `ORDER BY random() LIMIT n`, or `reservoirSample`). */
  sample(n: number): Promise<readonly string[]>
  /** The source of truth's record, or `undefined` when it has none. */
  source(key: string): Promise<Versioned<V> | undefined>
  copies: readonly Copy<V>[]
  /** Top-level fields that may differ between the source and every copy (timestamps, derived fields). */
  ignoreFields?: readonly string[]
  /** Keys this comparator samples per run; overrides its share of the checker's `budget`. */
  sampleSize?: number
}

/** Why a copy disagrees with the source. */
export type DivergenceKind =
  /** The source has the record; a `required` copy does not. */
  | 'missing'
  /** The copy has a record the source does not. */
  | 'extra'
  /** Both have versions and they differ. */
  | 'version'
  /** Same version (or none), different content outside the ignored fields. */
  | 'value'

/** One divergence found by a run, after it was confirmed by a second read. */
export interface Divergence {
  comparator: string
  copy: string
  key: string
  kind: DivergenceKind
  sourceVersion?: string
  copyVersion?: string
  /** The top-level fields that differ, for `kind: 'value'`. */
  fields?: string[]
  repaired: boolean
  /** Why it was not repaired: no repair policy, repair off, the repair threw, or the copy still differs. */
  unrepairedReason?: 'no-policy' | 'repair-off' | 'repair-failed' | 'still-divergent'
}

/** Counts of one copy in one run. */
export interface CopyCounts {
  checked: number
  inconsistent: number
  repaired: number
}

/** Counts of one comparator in one run. */
export interface ComparatorReport extends CopyCounts {
  /** Keys sampled. */
  keys: number
  unrepaired: number
  errors: number
  byCopy: Record<string, CopyCounts>
}

/** What one run found and did. Plain data, safe to `JSON.stringify`. */
export interface CheckReport {
  /** 1 for the checker's first run, then +1. */
  id: number
  trigger: 'manual' | 'schedule'
  /** ISO time. */
  startedAt: string
  durationMs: number
  /** Keys sampled, all comparators. */
  keys: number
  /** Comparisons made: sampled keys times the copies each was compared with. */
  checked: number
  /** Confirmed divergences (each one key in one copy). */
  inconsistent: number
  /** Divergences repaired and verified by a re-read. */
  repaired: number
  /** Divergences left as they were (see each divergence's `unrepairedReason`). */
  unrepaired: number
  /** Failed sample / source / read / repair calls. */
  errors: number
  byComparator: Record<string, ComparatorReport>
  /** The first divergences (up to the checker's `maxSamples`). */
  divergences: Divergence[]
  /** The first failures' messages (up to `maxSamples`). */
  errorSamples: { comparator: string; copy?: string; key?: string; step: string; message: string }[]
}

/** Where a checker counts its runs (a port: concord/prometheus's `checkerMetrics(registry)` is one adapter). */
export interface CheckerMetrics {
  /** Counts one finished run. */
  record(report: CheckReport): void
}

/** Where a convergence tracer counts (a port: concord/prometheus's `tracerMetrics(registry)` is one adapter). */
export interface TracerMetrics {
  /** A sampled write showed in `path` after `seconds`. */
  observe(path: string, seconds: number): void
  /** A sampled write did not show in `path` within the tracer's timeout. */
  violation(path: string): void
  /** Hands over the tracer's "converged within 1 s" share, read when metrics are collected. */
  share(read: () => number): void
}
