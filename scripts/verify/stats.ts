/** Nearest-rank index (0-based) of percentile p in n sorted values; the epsilon absorbs 99.9 / 100 * n rounding up. */
const rankIndex = (p: number, n: number) => Math.min(n, Math.max(1, Math.ceil((p / 100) * n - 1e-9))) - 1

/** Nearest-rank percentile (p in 0..100) of unsorted values; undefined for none. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[rankIndex(p, sorted.length)]
}

/** p50 / p99 / p99.9 / max and the count of a sample, in its own unit (ms here). */
export interface Summary {
  count: number
  p50?: number
  p99?: number
  p999?: number
  max?: number
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { count: 0 }
  const sorted = [...values].sort((a, b) => a - b)
  const at = (p: number) => sorted[rankIndex(p, sorted.length)]
  return { count: sorted.length, p50: at(50), p99: at(99), p999: at(99.9), max: sorted[sorted.length - 1] }
}
