import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { split } from '../../src/checker/checker.js'
import { type Comparator, type Copy, createChecker, type Versioned } from '../../src/checker/index.js'
import { InvalidOptionsError } from '../../src/errors.js'
import { checkerMetrics } from '../../src/prometheus/index.js'

type Row = { id: number; name: string; price: number }
type Store = Map<string, Versioned<Row>>

/** An in-memory data set: a source, a cache that may drop entries, and a projection re-projected from the source. */
function world(n: number) {
  const source: Store = new Map()
  for (let i = 1; i <= n; i++)
    source.set(String(i), { version: 1, value: { id: i, name: `p${i}`, price: i * 10 } })
  const cache: Store = new Map([...source].map(([k, v]) => [k, structuredClone(v)]))
  const search: Store = new Map([...source].map(([k, v]) => [k, structuredClone(v)]))
  const calls = { repairs: [] as string[] }
  const cacheCopy: Copy<Row> = {
    name: 'l2',
    read: async (key) => cache.get(key),
    repair: async (key) => {
      calls.repairs.push(`l2:${key}`)
      cache.delete(key)
    },
  }
  const searchCopy: Copy<Row> = {
    name: 'search',
    required: true,
    read: async (key) => search.get(key),
    repair: async (key, src) => {
      calls.repairs.push(`search:${key}`)
      if (src) search.set(key, structuredClone(src))
      else search.delete(key)
    },
  }
  const comparator: Comparator<Row> = {
    name: 'products',
    sample: async (k) => [...source.keys()].slice(0, k),
    source: async (key) => source.get(key),
    copies: [cacheCopy, searchCopy],
  }
  return { source, cache, search, comparator, calls, cacheCopy, searchCopy }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('createChecker', () => {
  it('finds every divergence it samples, repairs each with its copy policy, and verifies', async () => {
    const w = world(20)
    w.cache.set('3', { version: 1, value: { id: 3, name: 'p3', price: 1 } }) // corrupted, same version
    w.search.set('7', { version: 0, value: { id: 7, name: 'old', price: 70 } }) // behind
    w.search.delete('9') // missing row
    w.cache.set('99', { version: 1, value: { id: 99, name: 'ghost', price: 1 } }) // not sampled: not seen
    const checker = createChecker({ comparators: [w.comparator], budget: 20 })
    const report = await checker.run()
    expect(report).toMatchObject({
      id: 1,
      trigger: 'manual',
      keys: 20,
      checked: 40,
      inconsistent: 3,
      repaired: 3,
    })
    expect(report.unrepaired).toBe(0)
    expect(report.byComparator.products?.byCopy).toEqual({
      l2: { checked: 20, inconsistent: 1, repaired: 1 },
      search: { checked: 20, inconsistent: 2, repaired: 2 },
    })
    const kinds = Object.fromEntries(report.divergences.map((d) => [`${d.copy}:${d.key}`, d.kind]))
    expect(kinds).toEqual({ 'l2:3': 'value', 'search:7': 'version', 'search:9': 'missing' })
    expect(report.divergences.find((d) => d.key === '3')?.fields).toEqual(['price'])
    expect(w.cache.has('3')).toBe(false)
    expect(w.search.get('7')).toEqual(w.source.get('7'))
    expect(w.search.get('9')).toEqual(w.source.get('9'))

    const again = await checker.run()
    expect(again).toMatchObject({ id: 2, inconsistent: 0, repaired: 0 })
    expect(checker.history().map((r) => r.id)).toEqual([2, 1])
    expect(checker.totals()).toMatchObject({ runs: 2, inconsistent: 3, repaired: 3, checked: 80 })
  })

  it('does not report a write that lands between the source read and the copy read', async () => {
    const w = world(1)
    // The copy already has version 2 when it is read first; the source then catches up (the write commits).
    let reads = 0
    w.search.set('1', { version: 2, value: { id: 1, name: 'new', price: 5 } })
    const comparator: Comparator<Row> = {
      ...w.comparator,
      source: async (key) =>
        reads++ === 0 ? w.source.get(key) : { version: 2, value: { id: 1, name: 'new', price: 5 } },
    }
    const report = await createChecker({ comparators: [comparator], budget: 1 }).run()
    expect(report.inconsistent).toBe(0)
    expect(w.calls.repairs).toEqual([])
  })

  it('reports but does not count as repaired a repair that did not take, or a copy without a policy', async () => {
    const w = world(2)
    w.cache.set('1', { version: 1, value: { id: 1, name: 'x', price: 0 } })
    w.search.set('2', { version: 1, value: { id: 2, name: 'x', price: 0 } })
    const stubborn: Copy<Row> = { ...w.cacheCopy, repair: async () => {} }
    const noPolicy: Copy<Row> = { name: 'search', required: true, read: w.searchCopy.read }
    const report = await createChecker({
      comparators: [{ ...w.comparator, copies: [stubborn, noPolicy] }],
      budget: 2,
    }).run()
    expect(report).toMatchObject({ inconsistent: 2, repaired: 0, unrepaired: 2 })
    expect(report.divergences.map((d) => d.unrepairedReason).sort()).toEqual(['no-policy', 'still-divergent'])
  })

  it('leaves copies alone with repair off (per checker or per run)', async () => {
    const w = world(1)
    w.cache.set('1', { version: 1, value: { id: 1, name: 'x', price: 0 } })
    const checker = createChecker({ comparators: [w.comparator], budget: 1, repair: false })
    expect((await checker.run()).divergences[0]?.unrepairedReason).toBe('repair-off')
    expect(w.cache.has('1')).toBe(true)
    expect((await checker.run({ repair: true })).repaired).toBe(1)
    expect(w.cache.has('1')).toBe(false)
  })

  it('counts failures of sample, source, read and repair, and goes on with the rest', async () => {
    const w = world(3)
    w.search.delete('2')
    const errors: string[] = []
    const broken: Comparator<Row> = {
      name: 'broken',
      sample: async () => {
        throw new Error('db down')
      },
      source: w.comparator.source,
      copies: [],
    }
    const flaky: Comparator<Row> = {
      ...w.comparator,
      source: async (key) => {
        if (key === '3') throw new Error('timeout')
        return w.source.get(key)
      },
      copies: [
        { ...w.cacheCopy, read: async () => Promise.reject(new Error('redis down')) },
        { ...w.searchCopy, repair: async () => Promise.reject(new Error('read only')) },
      ],
    }
    const report = await createChecker({
      comparators: [broken, flaky],
      budget: 6,
      onError: (e) => errors.push(`${e.code} ${e.message}`),
    }).run()
    expect(report.byComparator.broken?.errors).toBe(1)
    // source('3') fails once; l2 read fails for keys 1 and 2; search repair of 2 fails
    expect(report.byComparator.products).toMatchObject({
      errors: 4,
      inconsistent: 1,
      repaired: 0,
      unrepaired: 1,
    })
    expect(report.errors).toBe(5)
    expect(report.errorSamples.map((e) => e.step).sort()).toEqual([
      'read',
      'read',
      'repair',
      'sample',
      'source',
    ])
    expect(errors.every((e) => e.startsWith('E_CHECKER_COMPARATOR_FAILED'))).toBe(true)
    expect(errors.join('\n')).toContain('checker broken: sample failed: db down')
  })

  it('calls the alert hook only above the threshold, and survives a failing hook', async () => {
    const w = world(5)
    const alerts: number[] = []
    const errors: string[] = []
    const checker = createChecker({
      comparators: [w.comparator],
      budget: 5,
      repair: false,
      alert: {
        threshold: 1,
        hook: (r) => {
          alerts.push(r.inconsistent)
          throw new Error('pager down')
        },
      },
      onError: (e) => errors.push(e.code),
    })
    w.cache.set('1', { version: 9, value: { id: 1, name: 'x', price: 0 } })
    await checker.run()
    expect(alerts).toEqual([]) // 1 is not above 1
    w.cache.set('2', { version: 9, value: { id: 2, name: 'x', price: 0 } })
    expect((await checker.run()).inconsistent).toBe(2)
    expect(alerts).toEqual([2])
    expect(errors).toEqual(['E_CHECKER_ALERT_FAILED'])
  })

  it('samples within the budget, shared by comparators, and joins a run in flight', async () => {
    const a = world(50)
    const asked: number[] = []
    let release: () => void = () => {}
    const gate = new Promise<void>((r) => {
      release = r
    })
    const slow: Comparator<Row> = {
      ...a.comparator,
      name: 'slow',
      sample: async (n) => {
        asked.push(n)
        await gate
        return [...a.source.keys()].slice(0, n + 5) // a sampler that returns too many is cut to n
      },
    }
    const checker = createChecker({ comparators: [slow, { ...a.comparator, sampleSize: 4 }], budget: 11 })
    const first = checker.run()
    const second = checker.run()
    release()
    const [r1, r2] = await Promise.all([first, second])
    expect(r1).toBe(r2)
    expect(asked).toEqual([7])
    expect(r1.byComparator.slow?.keys).toBe(7)
    expect(r1.byComparator.products?.keys).toBe(4)
    expect(split([slow, slow, slow], 10)).toEqual([4, 3, 3])
  })

  it('runs on its schedule until stopped', async () => {
    vi.useFakeTimers()
    const w = world(2)
    const checker = createChecker({ comparators: [w.comparator], budget: 2, schedule: { every: '1s' } })
    checker.start()
    checker.start()
    await vi.advanceTimersByTimeAsync(3500)
    expect(checker.history().map((r) => r.trigger)).toEqual(['schedule', 'schedule', 'schedule'])
    await checker.close()
    await vi.advanceTimersByTimeAsync(5000)
    expect(checker.history()).toHaveLength(3)
    await expect(checker.run()).rejects.toMatchObject({ code: 'E_CLOSED' })
  })

  it('confirms after `confirmAfter`, so a projection catching up is not reported', async () => {
    vi.useFakeTimers()
    const w = world(1)
    w.search.delete('1')
    setTimeout(() => w.search.set('1', structuredClone(w.source.get('1')!)), 500)
    const checker = createChecker({ comparators: [w.comparator], budget: 1, confirmAfter: '1s' })
    const run = checker.run()
    await vi.advanceTimersByTimeAsync(1000)
    expect((await run).inconsistent).toBe(0)
  })

  it('keeps metrics per comparator and copy in the given registry', async () => {
    const w = world(4)
    w.cache.set('2', { version: 0, value: { id: 2, name: 'p2', price: 20 } })
    const registry = new Registry()
    const checker = createChecker({
      comparators: [w.comparator],
      budget: 4,
      metrics: checkerMetrics(registry),
    })
    createChecker({ comparators: [w.comparator], metrics: checkerMetrics(registry) }) // a second checker shares the metrics
    await checker.run()
    const text = await registry.metrics()
    expect(text).toContain('concord_checker_checked_total{comparator="products",copy="l2"} 4')
    expect(text).toContain('concord_checker_inconsistent_total{comparator="products",copy="l2"} 1')
    expect(text).toContain('concord_checker_repaired_total{comparator="products",copy="l2"} 1')
    expect(text).toContain('concord_checker_inconsistent_total{comparator="products",copy="search"} 0')
    expect(text).toContain('concord_checker_runs_total 1')
    expect(text).toContain('concord_checker_last_run_inconsistent{comparator="products"} 1')
  })

  it('rejects bad options and duplicate names with typed errors', () => {
    const w = world(1)
    expect(() => createChecker({ comparators: [] })).toThrow(InvalidOptionsError)
    expect(() => createChecker({ comparators: [w.comparator], budget: -1 })).toThrow(/budget/)
    expect(() => createChecker({ comparators: [w.comparator, w.comparator] })).toThrow(
      expect.objectContaining({ code: 'E_CHECKER_DUPLICATE_NAME' }),
    )
    expect(() =>
      createChecker({ comparators: [{ ...w.comparator, copies: [w.cacheCopy, w.cacheCopy] }] }),
    ).toThrow(/products\/l2/)
  })
})
