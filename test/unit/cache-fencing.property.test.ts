import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Cache, createCache, type L2Tier } from '../../src/cache/index.js'
import { createMemoryBus, createMemoryTier } from '../../src/memory/index.js'

/**
 * C1 + C3 as a property: several instances share a memory L2 and a memory bus; reads, database writes followed by
 * `invalidate`, and bus deliveries are interleaved by fast-check's scheduler (every L2 call and every bus delivery is
 * a point where anything else may run first). Against a model (the database's current version per key):
 * - C1: a read on an instance after its own write's invalidate resolved returns that version or newer;
 * - C3: once everything settled, no tier of any instance holds a value older than the database.
 */

type Op = { kind: 'read' | 'write'; key: string }

/** Delays every call of the tier by one scheduler step, so calls interleave with everything else. */
function scheduledTier(inner: L2Tier, s: fc.Scheduler): L2Tier {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function' || ['open', 'close', 'waitForFill'].includes(prop as string))
        return value
      return async (...args: unknown[]) => {
        await s.schedule(Promise.resolve(), `l2.${String(prop)}`)
        return value.apply(target, args)
      }
    },
  })
}

const opArb = fc.record({
  kind: fc.constantFrom('read', 'read', 'write'),
  key: fc.constantFrom('a', 'b'),
}) as fc.Arbitrary<Op>

describe('fencing property (C1, C3)', () => {
  it('never installs or serves a stale value across instances', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        // instances x lanes (concurrent sequences of operations within an instance) x operations
        fc.array(fc.array(fc.array(opArb, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 2 }), {
          minLength: 2,
          maxLength: 3,
        }),
        async (s, perInstance) => {
          const db = new Map<string, number>([
            ['a', 0],
            ['b', 0],
          ])
          const l2 = scheduledTier(createMemoryTier(), s)
          const bus = createMemoryBus({
            schedule: (deliver) => {
              void s.schedule(Promise.resolve(), 'bus delivery').then(deliver)
            },
          })
          const caches: Cache<number>[] = perInstance.map((_, i) =>
            createCache<number>({
              name: 'prop',
              l2,
              bus,
              instanceId: `i${i}`,
              jitter: 0,
              lease: { wait: '200ms' },
            }),
          )
          const violations: string[] = []
          const loader = async (ctx: { key: string }) => {
            const version = db.get(ctx.key)! // the database read happens here...
            await s.schedule(Promise.resolve(), `load ${ctx.key}`) // ...and the fill some time later
            return version
          }
          const acked = perInstance.map(() => new Map<string, number>())
          const run = async (i: number, ops: Op[]) => {
            const cache = caches[i]!
            await s.schedule(Promise.resolve(), `start i${i}`)
            const own = acked[i]!
            for (const op of ops) {
              if (op.kind === 'write') {
                const version = db.get(op.key)! + 1
                db.set(op.key, version)
                await cache.invalidate(op.key)
                own.set(op.key, Math.max(version, own.get(op.key) ?? 0))
              } else {
                const floor = own.get(op.key) ?? 0
                const got = await cache.getOrLoad(op.key, loader)
                if (got < floor) violations.push(`C1: i${i} read ${op.key}=${got} after writing ${floor}`)
              }
            }
          }
          try {
            await s.waitFor(Promise.all(perInstance.flatMap((lanes, i) => lanes.map((ops) => run(i, ops)))))
            await s.waitAll()
            for (const key of ['a', 'b']) {
              for (const [i, cache] of caches.entries()) {
                const seen = await s.waitFor(cache.inspect(key))
                const current = db.get(key)
                if (seen.l1 && seen.l1.value !== current) {
                  violations.push(`C3: i${i} L1 ${key}=${seen.l1.value}, db=${current}`)
                }
                if (seen.l2?.value !== undefined && seen.l2.value !== current) {
                  violations.push(`C3: L2 ${key}=${seen.l2.value}, db=${current}`)
                }
              }
            }
          } finally {
            await Promise.all(caches.map((c) => c.close()))
          }
          expect(violations).toEqual([])
        },
      ),
      { numRuns: 300 },
    )
  }, 120_000)
})
