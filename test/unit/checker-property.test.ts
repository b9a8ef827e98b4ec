import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Comparator, createChecker, type Versioned } from '../../src/checker/index.js'
import { reservoirSample } from '../../src/checker/sample.js'

type Row = { id: number; price: number }
const corruption = fc.constantFrom('older', 'garbage', 'drop', 'ghost')

// C8: sampling finds every divergence it samples, repairs it, and reports counts.
describe('checker property (C8)', () => {
  it('finds exactly the divergences among the sampled keys, repairs them all, and a full run then finds none', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 50 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('l2', 'search'), corruption), { maxLength: 30 }),
        fc.integer(),
        async (size, budget, corruptions, seed) => {
          const source = new Map<string, Versioned<Row>>()
          for (let i = 0; i < size; i++) source.set(String(i), { version: 3, value: { id: i, price: i } })
          const copies = {
            l2: new Map([...source].map(([k, v]) => [k, structuredClone(v)])),
            search: new Map([...source].map(([k, v]) => [k, structuredClone(v)])),
          }
          const broken = new Set<string>() // `${copy}:${key}` pairs that diverge
          for (const [n, copy, how] of corruptions) {
            const key = how === 'ghost' ? `ghost${n}` : String(n % size)
            const store = copies[copy as 'l2' | 'search']
            if (how === 'older') store.set(key, { version: 2, value: { id: n, price: n } })
            else if (how === 'garbage') store.set(key, { version: 3, value: { id: n, price: -1 } })
            else if (how === 'drop') store.delete(key)
            else store.set(key, { version: 1, value: { id: -1, price: 0 } })
            // An absent cache entry is not a divergence; every other change is.
            const diverges = how !== 'drop' || copy === 'search'
            if (diverges) broken.add(`${copy}:${key}`)
            else broken.delete(`${copy}:${key}`)
          }
          let random = seed
          const rand = () => {
            random = (random * 1103515245 + 12345) & 0x7fffffff
            return random / 0x80000000
          }
          const sampled: string[] = []
          const all = () => [...new Set([...source.keys(), ...copies.l2.keys(), ...copies.search.keys()])]
          const comparator: Comparator<Row> = {
            name: 'products',
            sample: async (n) => {
              const keys = reservoirSample(all(), n, rand)
              sampled.push(...keys)
              return keys
            },
            source: async (key) => source.get(key),
            copies: (['l2', 'search'] as const).map((name) => ({
              name,
              required: name === 'search',
              read: async (key: string) => copies[name].get(key),
              repair: async (key: string, src: Versioned<Row> | undefined) => {
                if (name === 'l2' || !src) copies[name].delete(key)
                else copies[name].set(key, structuredClone(src))
              },
            })),
          }
          const population = all().length
          const checker = createChecker({ comparators: [comparator], budget })
          const report = await checker.run()
          const expected = [...broken].filter((pair) => sampled.includes(pair.slice(pair.indexOf(':') + 1)))
          expect(report.keys).toBe(Math.min(budget, population))
          expect(report.divergences.map((d) => `${d.copy}:${d.key}`).sort()).toEqual(expected.sort())
          expect(report.inconsistent).toBe(expected.length)
          expect(report.repaired).toBe(expected.length)
          // Everything sampled now agrees; a run over every key finds only what was not sampled.
          const full = await checker.run({ budget: 1000 })
          expect(full.inconsistent).toBe(broken.size - expected.length)
          expect((await checker.run({ budget: 1000 })).inconsistent).toBe(0)
        },
      ),
      { numRuns: 150 },
    )
  })
})
