import { Registry } from 'prom-client'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createConvergenceTracer, type Probe } from '../../src/checker/index.js'
import { tracerMetrics } from '../../src/prometheus/index.js'

// Copies that show a write at a given time after it (fake clock): `at[path]` ms, or never.
function delayedProbe(path: string, showsAfterMs: number | undefined, writtenAt: () => number): Probe {
  return {
    path,
    read: async () => (showsAfterMs !== undefined && Date.now() - writtenAt() >= showsAfterMs ? 2 : 1),
  }
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('createConvergenceTracer', () => {
  it('records the convergence time of every path in the histogram and the share within 1 s', async () => {
    const registry = new Registry()
    const start = Date.now()
    const tracer = createConvergenceTracer({
      sampleRate: 1,
      metrics: tracerMetrics(registry),
      timeout: '5s',
      probes: [
        delayedProbe('l2', 0, () => start),
        delayedProbe('order-cache', 300, () => start),
        delayedProbe('search', 2000, () => start),
      ],
    })
    const trace = tracer.track('product:1', 2, start)!
    await vi.advanceTimersByTimeAsync(3000)
    const times = await trace
    expect(times.l2).toBe(0)
    // probes back off up to 100 ms: a time is an upper bound within one interval
    expect(times['order-cache']).toBeGreaterThanOrEqual(0.3)
    expect(times['order-cache']).toBeLessThanOrEqual(0.4)
    expect(times.search).toBeGreaterThanOrEqual(2)
    expect(times.search).toBeLessThanOrEqual(2.1)
    expect(tracer.convergedWithin1sShare).toBeCloseTo(2 / 3)
    const text = await registry.metrics()
    expect(text).toContain('concord_convergence_seconds_bucket{le="0.001",path="l2"} 1')
    expect(text).toContain('concord_convergence_seconds_bucket{le="0.25",path="order-cache"} 0')
    expect(text).toContain('concord_convergence_seconds_bucket{le="0.5",path="order-cache"} 1')
    expect(text).toContain('concord_convergence_seconds_bucket{le="1",path="search"} 0')
    expect(text).toContain('concord_convergence_seconds_count{path="search"} 1')
    expect(text).toMatch(/concord_convergence_within_1s_ratio 0\.66/)
    const stats = tracer.stats()
    expect(stats).toMatchObject({ traced: 1, inFlight: 0, violations: 0 })
    expect(stats.paths.find((p) => p.path === 'search')).toMatchObject({ converged: 1, within1sShare: 0 })
  })

  it('reports a copy that never shows the write as a violation, after the timeout', async () => {
    const registry = new Registry()
    const start = Date.now()
    const seen: string[] = []
    const tracer = createConvergenceTracer({
      sampleRate: 1,
      metrics: tracerMetrics(registry),
      timeout: '2s',
      probes: [delayedProbe('l2', 0, () => start), delayedProbe('search', undefined, () => start)],
      onViolation: (v) => seen.push(v.path),
    })
    const trace = tracer.track('product:9', 2)!
    await vi.advanceTimersByTimeAsync(1900)
    expect(tracer.violations()).toEqual([])
    await vi.advanceTimersByTimeAsync(200)
    expect(await trace).toEqual({ l2: 0, search: null })
    expect(seen).toEqual(['search'])
    expect(tracer.violations()).toEqual([
      {
        key: 'product:9',
        version: '2',
        path: 'search',
        writtenAt: new Date(start).toISOString(),
        lastSeen: '1',
      },
    ])
    expect(await registry.metrics()).toContain('concord_convergence_violations_total{path="search"} 1')
    expect(tracer.convergedWithin1sShare).toBe(0.5)
  })

  it('treats an absent entry as converged only for probes that say so (caches)', async () => {
    const tracer = createConvergenceTracer({
      sampleRate: 1,
      timeout: '500ms',
      probes: [
        { path: 'l1', read: async () => undefined, absentIsConverged: true },
        { path: 'search', read: async () => null },
      ],
    })
    const trace = tracer.track('k', 1)!
    await vi.advanceTimersByTimeAsync(600)
    expect(await trace).toEqual({ l1: 0, search: null })
    expect(tracer.violations()[0]).toMatchObject({ path: 'search', lastSeen: null })
  })

  it('keeps probing through probe errors and records the last one', async () => {
    let calls = 0
    const tracer = createConvergenceTracer({
      sampleRate: 1,
      timeout: '1s',
      probes: [
        {
          path: 'l1',
          read: async () => {
            calls++
            if (calls < 3) throw new Error('instance unreachable')
            return 5
          },
        },
        { path: 'dead', read: async () => Promise.reject(new Error('gone')) },
      ],
    })
    const trace = tracer.track('k', 5)!
    await vi.advanceTimersByTimeAsync(1100)
    expect((await trace).l1).not.toBeNull()
    expect(tracer.violations()[0]).toMatchObject({ path: 'dead', lastSeen: undefined, lastError: 'gone' })
  })

  it('traces only the sampled share of writes, and at most maxInFlight at once', async () => {
    const rolls = [0.05, 0.5, 0.01, 0.2]
    const tracer = createConvergenceTracer({
      sampleRate: 0.1,
      maxInFlight: 1,
      random: () => rolls.shift() ?? 1,
      probes: [{ path: 'search', read: async () => 0 }],
      timeout: '1s',
    })
    expect(tracer.track('a', 1)).toBeDefined()
    expect(tracer.track('b', 1)).toBeUndefined() // not sampled
    expect(tracer.track('c', 1)).toBeUndefined() // sampled, but one trace is in flight
    expect(tracer.stats()).toMatchObject({ traced: 1, skipped: 1, dropped: 1, inFlight: 1 })
    tracer.close()
    await vi.advanceTimersByTimeAsync(10)
    expect(tracer.stats().inFlight).toBe(0)
    expect(tracer.violations()).toEqual([]) // closing is not a violation
    expect(() => tracer.track('d', 1)).toThrow(expect.objectContaining({ code: 'E_CLOSED' }))
  })

  it('rejects bad input and options', () => {
    const probes = [{ path: 'l2', read: async () => 1 }]
    expect(() => createConvergenceTracer({ probes: [] })).toThrow(/probes/)
    expect(() => createConvergenceTracer({ probes, sampleRate: 2 })).toThrow(/sampleRate/)
    expect(() => createConvergenceTracer({ probes: [...probes, ...probes] })).toThrow(/l2/)
    const tracer = createConvergenceTracer({ probes, sampleRate: 1 })
    expect(() => tracer.track('', 1)).toThrow(expect.objectContaining({ code: 'E_INVALID_INPUT' }))
    expect(() => tracer.track('k', {} as never)).toThrow(/version/)
    tracer.close()
  })
})
