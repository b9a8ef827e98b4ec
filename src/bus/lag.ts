/** A ring of the last delivery delays; percentiles are computed when asked (stats), not per message. */
export class LagSamples {
  private readonly ring: Float64Array
  private count = 0
  private max = 0

  constructor(size = 1024) {
    this.ring = new Float64Array(size)
  }

  add(ms: number): void {
    const value = Math.max(0, ms)
    this.ring[this.count % this.ring.length] = value
    this.count++
    if (value > this.max) this.max = value
  }

  summary(): { p50: number; p99: number; max: number; samples: number } {
    const n = Math.min(this.count, this.ring.length)
    if (n === 0) return { p50: 0, p99: 0, max: 0, samples: 0 }
    const sorted = Array.from(this.ring.subarray(0, n)).sort((a, b) => a - b)
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * n))]!
    return { p50: at(0.5), p99: at(0.99), max: this.max, samples: this.count }
  }
}
