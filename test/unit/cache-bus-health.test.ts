import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache/index.js'
import { createMemoryBus, createMemoryTier } from '../../src/memory/index.js'
import { sleep } from '../support/wait.js'

const open: Cache<unknown>[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

describe('L1 and bus health (C2)', () => {
  it('bypasses and flushes L1 while the bus is down, and flushes again when it is back', async () => {
    const l2 = createMemoryTier()
    const bus = createMemoryBus()
    const a = createCache<number>({ name: 'h', l2, bus, instanceId: 'a' })
    const b = createCache<number>({ name: 'h', l2, bus, instanceId: 'b' })
    open.push(a as Cache<unknown>, b as Cache<unknown>)
    await sleep(1)
    let version = 1
    const loader = async () => version
    expect(await b.getOrLoad('k', loader)).toBe(1)
    expect((await b.inspect('k')).l1?.value).toBe(1)

    bus.disconnect('b')
    expect(b.stats().bus.healthy).toBe(false)
    expect((await b.inspect('k')).l1).toBeUndefined() // flushed
    // A write on a while b cannot hear it: b must not serve its old L1 copy.
    version = 2
    await a.invalidate('k')
    expect(await b.getOrLoad('k', loader)).toBe(2)
    expect((await b.inspect('k')).l1).toBeUndefined() // not filled while bypassed
    expect(b.stats().l1.enabled).toBe(false)

    await sleep(20)
    bus.reconnect('b')
    expect(b.stats().l1.enabled).toBe(true)
    expect(await b.getOrLoad('k', loader)).toBe(2)
    expect((await b.inspect('k')).l1?.value).toBe(2)
    const stats = b.stats()
    expect(stats.bus.bypasses).toBe(1)
    expect(stats.bus.bypassMs).toBeGreaterThanOrEqual(15)
  })

  it('drops a load that was in flight when the bus went down', async () => {
    const bus = createMemoryBus()
    const a = createCache<number>({ name: 'h2', l2: createMemoryTier(), bus, instanceId: 'a' })
    open.push(a as Cache<unknown>)
    await sleep(1)
    const pending = a.getOrLoad('k', async () => {
      await sleep(20)
      return 1
    })
    await sleep(5)
    bus.disconnect('a')
    bus.reconnect('a')
    expect(await pending).toBe(1)
    expect((await a.inspect('k')).l1).toBeUndefined()
    expect(a.stats().fencingRejected.l1).toBe(1)
  })

  it('a remote invalidation during a load keeps the loaded value out of L1', async () => {
    const l2 = createMemoryTier()
    const bus = createMemoryBus()
    const a = createCache<number>({ name: 'h3', l2, bus, instanceId: 'a' })
    const b = createCache<number>({ name: 'h3', l2, bus, instanceId: 'b' })
    open.push(a as Cache<unknown>, b as Cache<unknown>)
    await sleep(1)
    let db = 1
    const pending = b.getOrLoad('k', async () => {
      const read = db
      await sleep(20)
      return read
    })
    await sleep(5)
    db = 2
    await a.invalidate('k')
    expect(await pending).toBe(1) // the read began before the write was acknowledged: allowed
    const seen = await b.inspect('k')
    expect(seen.l1).toBeUndefined()
    expect(seen.l2?.value).toBeUndefined()
    expect(b.stats().fencingRejected.l2).toBe(1)
    expect(await b.getOrLoad('k', async () => db)).toBe(2)
  })
})
