import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache, InvalidationFailedError, type L2Tier } from '../../src/cache/index.js'
import { createMemoryBus, createMemoryTier } from '../../src/memory/index.js'

const open: Cache<unknown>[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

/** A shared tier whose invalidations can be made to fail while reads still work (a slow or flaky Redis). */
function tierFailingInvalidations(): L2Tier & { failInvalidate: boolean; failAll: boolean } {
  const inner = createMemoryTier()
  const flags = { failInvalidate: false, failAll: false }
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'failInvalidate' || prop === 'failAll') return flags[prop]
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function' || prop === 'open' || prop === 'close') return value
      return (...args: unknown[]) => {
        if (flags.failAll || (flags.failInvalidate && prop === 'invalidate')) {
          return Promise.reject(new Error('redis timed out'))
        }
        return value.apply(target, args)
      }
    },
    set(_target, prop, value) {
      if (prop === 'failInvalidate' || prop === 'failAll') flags[prop] = value
      return true
    },
  }) as unknown as L2Tier & { failInvalidate: boolean; failAll: boolean }
}

function writerAndTier() {
  const l2 = tierFailingInvalidations()
  const writer = createCache<{ v: number }>({
    name: 'rw',
    l2,
    bus: createMemoryBus(),
    breaker: { failures: 100 },
  })
  open.push(writer as Cache<unknown>)
  return { l2, writer }
}

// The verify run found this: Redis slowed, the writer's L2 invalidation timed out, and the writer's next read
// served the older value, from L2 or from a replica that had not replayed the write (the LSN lived in L2).
describe('a write whose L2 invalidation was not confirmed (C1 with C4)', () => {
  it('is not served from L2 on the writing instance, and the fill reads at or past its LSN', async () => {
    const { l2, writer } = writerAndTier()
    expect(await writer.getOrLoad('k', () => ({ v: 1 }))).toEqual({ v: 1 })

    l2.failInvalidate = true
    await expect(writer.invalidate('k', { lsn: '0/5000' })).rejects.toBeInstanceOf(InvalidationFailedError)

    // L2 still holds v1; the writer must load again, with the write's LSN.
    let seen: string | undefined
    const value = await writer.getOrLoad('k', (ctx) => {
      seen = ctx.minLsn
      return { v: 2 }
    })
    expect(value).toEqual({ v: 2 })
    expect(seen).toBe('0/5000')
    expect((await writer.inspect('k')).l2?.value).toEqual({ v: 1 })
    expect(await writer.get('k')).not.toEqual({ v: 1 })
  })

  it('trusts L2 again once a later invalidation of the key is confirmed', async () => {
    const { l2, writer } = writerAndTier()
    await writer.getOrLoad('k', () => ({ v: 1 }))
    l2.failInvalidate = true
    await expect(writer.invalidate('k', { lsn: '0/10' })).rejects.toBeInstanceOf(InvalidationFailedError)
    l2.failInvalidate = false
    await writer.invalidate('k', { lsn: '0/20' })
    let loads = 0
    await writer.getOrLoad('k', () => ({ v: 3 + loads++ }))
    writer.deleteLocal('k')
    // Filled into L2 again, so the second read is an L2 hit, not a load.
    expect(await writer.getOrLoad('k', () => ({ v: 3 + loads++ }))).toEqual({ v: 3 })
    expect(loads).toBe(1)
  })

  it("gives the fill the LSN of the writer's own invalidation when L2 is down altogether", async () => {
    const { l2, writer } = writerAndTier()
    l2.failAll = true
    await expect(writer.invalidate('k', { lsn: '1/0' })).rejects.toBeInstanceOf(InvalidationFailedError)
    let seen: string | undefined
    await writer.getOrLoad('k', (ctx) => {
      seen = ctx.minLsn
      return { v: 9 }
    })
    expect(seen).toBe('1/0')
  })
})
