/** The last `size` observations of a path, for percentiles in the status page (the histogram keeps all). */
export class Window {
  private readonly values: number[] = []
  private next = 0

  constructor(private readonly size: number) {}

  add(value: number): void {
    if (this.values.length < this.size) this.values.push(value)
    else this.values[this.next] = value
    this.next = (this.next + 1) % this.size
  }

  /** p50, p99 and max of the window, 0 when empty. */
  summary(): { p50: number; p99: number; max: number } {
    if (this.values.length === 0) return { p50: 0, p99: 0, max: 0 }
    const sorted = [...this.values].sort((a, b) => a - b)
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!
    return { p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1]! }
  }
}
