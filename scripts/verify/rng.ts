/** A seeded PRNG (mulberry32): the same seed gives the same workload and fault schedule. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0 || 0x9e3779b9
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Zipfian ranks 1..n with exponent `s` (P(k) ~ 1/k^s), by inverse transform over the cumulative weights:
 * a few keys are hot, as in a real shop, so writes and reads of one key meet often.
 */
export function zipf(n: number, s: number, random: () => number): () => number {
  const cumulative = new Float64Array(n)
  let sum = 0
  for (let k = 1; k <= n; k++) {
    sum += 1 / k ** s
    cumulative[k - 1] = sum
  }
  return () => {
    const target = random() * sum
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (cumulative[mid]! < target) lo = mid + 1
      else hi = mid
    }
    return lo + 1
  }
}
