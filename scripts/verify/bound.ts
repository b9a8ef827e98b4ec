/**
 * One-sided 95 % upper confidence bound of a rate seen `k` times in `n` trials (Poisson, fine for rare
 * events in many trials): the λ with P(X <= k | λ) = 0.05, over n. For k = 0 that is -ln(0.05) / n, the
 * "rule of three" (3 / n).
 */
export function upperBound95(k: number, n: number): number {
  if (n <= 0) return 1
  // Past a few hundred events the Poisson tail is normal enough (and e^-λ would underflow).
  if (k > 300) return Math.min(1, (k + 1.645 * Math.sqrt(k) + 1) / n)
  const cdf = (lambda: number) => {
    let term = Math.exp(-lambda)
    let sum = term
    for (let i = 1; i <= k; i++) {
      term *= lambda / i
      sum += term
    }
    return sum
  }
  let lo = k
  let hi = k + 10 + 10 * Math.sqrt(k + 1)
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2
    if (cdf(mid) > 0.05) lo = mid
    else hi = mid
  }
  return Math.min(1, hi / n)
}
