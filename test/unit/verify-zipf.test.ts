import { describe, expect, it } from 'vitest'
import { planFaults } from '../../scripts/verify/faults.js'
import { seededRandom, zipf } from '../../scripts/verify/rng.js'

describe('verify workload: zipf keys', () => {
  it('is skewed: rank 1 about twice rank 2, the top 10 of 100 take more than half', () => {
    const next = zipf(100, 1, seededRandom(42))
    const counts = new Array(101).fill(0)
    const n = 200_000
    for (let i = 0; i < n; i++) counts[next()]++
    expect(counts[0]).toBe(0)
    expect(counts[1] / counts[2]).toBeGreaterThan(1.8)
    expect(counts[1] / counts[2]).toBeLessThan(2.2)
    const top10 = counts.slice(1, 11).reduce((a: number, b: number) => a + b, 0)
    expect(top10 / n).toBeGreaterThan(0.5)
    // H(100) ~ 5.187: P(1) ~ 0.193
    expect(counts[1] / n).toBeCloseTo(0.193, 1)
    expect(counts.slice(1).every((c: number) => c > 0)).toBe(true)
  })

  it('is reproducible from the seed', () => {
    const a = zipf(50, 1, seededRandom(7))
    const b = zipf(50, 1, seededRandom(7))
    expect(Array.from({ length: 20 }, a)).toEqual(Array.from({ length: 20 }, b))
  })
})

describe('verify faults: schedule', () => {
  it('cycles the faults in slots, each healed before the next starts', () => {
    const plan = planFaults(60_000, ['pubsub-kill', 'redis-restart'])
    expect(plan.map((p) => p.fault)).toEqual(['pubsub-kill', 'redis-restart'])
    for (const p of plan) expect(p.healMs).toBeGreaterThan(p.startMs)
    expect(plan[1]!.startMs).toBeGreaterThan(plan[0]!.healMs)
    expect(planFaults(120_000, ['nats-stop'])).toHaveLength(4)
    expect(planFaults(60_000, [])).toEqual([])
  })
})
