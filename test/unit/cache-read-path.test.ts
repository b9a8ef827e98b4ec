import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Cache, createCache, type L2Tier } from '../../src/cache/index.js'
import { ClosedError, SerializationError } from '../../src/errors.js'
import { createMemoryBus, createMemoryTier } from '../../src/memory/index.js'
import { registerCacheMetrics } from '../../src/prometheus/index.js'
import { sleep } from '../support/wait.js'

const open: Cache<unknown>[] = []
function cache<T>(options: Parameters<typeof createCache>[0]): Cache<T> {
  const created = createCache<T>({ jitter: 0, ...options })
  open.push(created as Cache<unknown>)
  return created
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

/** A tier that fails on demand: throws, or never answers. A unit-test fake; real Redis faults are in test/chaos. */
function faultyTier(inner: L2Tier): L2Tier & { mode: 'ok' | 'throw' | 'hang'; calls: number } {
  const state = { mode: 'ok' as 'ok' | 'throw' | 'hang', calls: 0 }
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'mode' || prop === 'calls') return state[prop]
      const value = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function' || prop === 'open' || prop === 'close') return value
      return (...args: unknown[]) => {
        state.calls++
        if (state.mode === 'throw') return Promise.reject(new Error('redis is down'))
        if (state.mode === 'hang') return new Promise(() => {})
        return value.apply(target, args)
      }
    },
    set(_target, prop, value) {
      if (prop === 'mode') state.mode = value
      return true
    },
  }) as L2Tier & { mode: 'ok' | 'throw' | 'hang'; calls: number }
}

describe('read path', () => {
  it('reads L1, then L2, then the loader, and fills L2 then L1', async () => {
    const l2 = createMemoryTier()
    const a = cache<string>({ name: 'rp', l2 })
    const loader = vi.fn(async () => 'v1')
    expect(await a.getOrLoad('k', loader)).toBe('v1')
    expect(loader).toHaveBeenCalledTimes(1)
    expect((await a.inspect('k')).l2?.value).toBe('v1')
    expect(await a.getOrLoad('k', loader)).toBe('v1')
    const b = cache<string>({ name: 'rp', l2 }) // another instance: L1 cold, L2 warm
    expect(await b.getOrLoad('k', loader)).toBe('v1')
    expect(loader).toHaveBeenCalledTimes(1)
    expect(a.stats().l1).toMatchObject({ hits: 1, misses: 1 })
    expect(b.stats().l2).toMatchObject({ hits: 1, misses: 0 })
    expect(a.stats().loads).toBe(1)
  })

  it('runs one loader per key in a process', async () => {
    const a = cache<number>({ name: 'sf', l2: createMemoryTier() })
    const loader = vi.fn(async () => {
      await sleep(10)
      return 42
    })
    const results = await Promise.all(Array.from({ length: 200 }, () => a.getOrLoad('k', loader)))
    expect(new Set(results)).toEqual(new Set([42]))
    expect(loader).toHaveBeenCalledTimes(1)
  })

  it('runs one loader per cold key across instances; waiters receive the value', async () => {
    const l2 = createMemoryTier()
    const bus = createMemoryBus()
    const instances = [0, 1, 2, 3].map((i) => cache<number>({ name: 'lease', l2, bus, instanceId: `i${i}` }))
    await sleep(1)
    const loader = vi.fn(async () => {
      await sleep(30)
      return 7
    })
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => instances[i % 4]!.getOrLoad('cold', loader)),
    )
    expect(loader).toHaveBeenCalledTimes(1)
    expect(results.every((r) => r === 7)).toBe(true)
    const handoffs = instances.reduce((n, c) => n + c.stats().lease.handoffs, 0)
    expect(handoffs).toBe(3)
    // Filling a miss never broadcasts.
    expect(instances.map((c) => c.stats().bus.messagesOut)).toEqual([0, 0, 0, 0])
  })

  it('waiters load themselves at once when the lease holder fails, and after the bounded wait when it hangs', async () => {
    const l2 = createMemoryTier()
    const a = cache<string>({ name: 'lf', l2, lease: { ttl: '5s', wait: '1s' } })
    const b = cache<string>({ name: 'lf', l2, lease: { ttl: '5s', wait: '1s' } })
    const failing = a.getOrLoad('k', async () => {
      await sleep(20)
      throw new Error('db down')
    })
    await sleep(5)
    const started = Date.now()
    expect(await b.getOrLoad('k', async () => 'from-b')).toBe('from-b')
    expect(Date.now() - started).toBeLessThan(700) // told at once, not after the 1 s wait
    await expect(failing).rejects.toThrow('db down')

    let release!: () => void
    const hanging = a.getOrLoad('h', () => new Promise<string>((r) => (release = () => r('late'))))
    await sleep(5)
    const t0 = Date.now()
    expect(await b.getOrLoad('h', async () => 'own')).toBe('own')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950)
    expect(b.stats().lease.fallbacks).toBe(1)
    release()
    await hanging
  })

  it('caches absence only when negative caching is on', async () => {
    const plain = cache<string | undefined>({ name: 'neg1', l2: createMemoryTier() })
    const loader = vi.fn(async () => undefined)
    await plain.getOrLoad('k', loader)
    await plain.getOrLoad('k', loader)
    expect(loader).toHaveBeenCalledTimes(2)
    const negative = cache<string | undefined>({ name: 'neg2', l2: createMemoryTier(), negativeTtl: '1s' })
    const loader2 = vi.fn(async () => undefined)
    expect(await negative.getOrLoad('k', loader2)).toBeUndefined()
    expect(await negative.getOrLoad('k', loader2)).toBeUndefined()
    expect(loader2).toHaveBeenCalledTimes(1)
    expect((await negative.inspect('k')).l2?.negative).toBe(true)
  })

  it('expires values after the TTL, jitter only shortening it', async () => {
    const TTL = 300
    const a = cache<number>({ name: 'ttl', l2: createMemoryTier(), ttl: TTL, jitter: 0.5 })
    let n = 0
    const loader = async () => ++n
    // Bounds from clocks read around the fill, so a slow machine cannot push them either way.
    const before = Date.now()
    expect(await a.getOrLoad('k', loader)).toBe(1)
    const { l1 } = await a.inspect('k')
    const after = Date.now()
    expect(l1!.expiresAt).toBeLessThanOrEqual(after + TTL)
    expect(l1!.expiresAt).toBeGreaterThanOrEqual(before + TTL / 2) // jitter 0.5 takes at most half
    await sleep(TTL - (Date.now() - after) + 10) // past the longest TTL either tier can have given it
    expect(await a.getOrLoad('k', loader)).toBe(2)
  })

  it('serves the last good value within grace when the loader fails, and counts it', async () => {
    const a = cache<string>({ name: 'grace', l2: createMemoryTier(), ttl: '30ms', grace: '1s' })
    await a.getOrLoad('k', async () => 'good')
    await sleep(40)
    expect(await a.getOrLoad('k', async () => Promise.reject(new Error('db down')))).toBe('good')
    expect(a.stats().graceServed).toBe(1)
    // Another instance, cold L1: the stale value comes from L2.
    const b = cache<string>({ name: 'grace', l2: createMemoryTier(), ttl: '30ms' })
    await expect(b.getOrLoad('k', async () => Promise.reject(new Error('db down')))).rejects.toThrow(
      'db down',
    )
  })

  it('refreshes a value past its TTL once across instances while L2 keeps it for grace', async () => {
    const l2 = createMemoryTier()
    const a = cache<number>({ name: 'gr2', l2, ttl: '30ms', grace: '10s' })
    const b = cache<number>({ name: 'gr2', l2, ttl: '30ms', grace: '10s' })
    await a.getOrLoad('k', async () => 1)
    await sleep(40)
    let calls = 0
    const loader = async () => {
      calls++
      await sleep(20)
      return 2
    }
    expect(await Promise.all([a.getOrLoad('k', loader), b.getOrLoad('k', loader)])).toEqual([2, 2])
    expect(calls).toBe(1)
    expect((await b.inspect('k')).l2?.value).toBe(2)
  })

  it('aborts a load past loadTimeout', async () => {
    const a = cache<string>({ name: 'lt', loadTimeout: '30ms' })
    let signal: AbortSignal | undefined
    const pending = a.getOrLoad('k', (ctx) => {
      signal = ctx.signal
      return new Promise(() => {})
    })
    await expect(pending).rejects.toMatchObject({ code: 'E_CACHE_LOAD_TIMEOUT' })
    expect(signal?.aborted).toBe(true)
  })

  it('gives the loader the key and the highest invalidation LSN (C4)', async () => {
    const a = cache<string>({ name: 'lsn', l2: createMemoryTier() })
    const seen: (string | undefined)[] = []
    const loader = async (ctx: { key: string; minLsn?: string }) => {
      seen.push(ctx.minLsn)
      return ctx.key
    }
    await a.getOrLoad('k', loader)
    await a.invalidate('k', { lsn: '0/16B3748' })
    await a.getOrLoad('k', loader)
    await a.invalidate(['k'], { lsn: '0/100' }) // older: the highest stays
    await a.getOrLoad('k', loader)
    expect(seen).toEqual([undefined, '0/16B3748', '0/16B3748'])
    expect((await a.inspect('k')).l2?.lsn).toBe('0/16B3748')
    await expect(a.invalidate('k', { lsn: 'nope' })).rejects.toMatchObject({ code: 'E_INVALID_INPUT' })
  })

  it('caches nothing for an unserialisable value but still returns it; set rejects it', async () => {
    const a = cache<unknown>({ name: 'ser', l2: createMemoryTier() })
    const value = { f: () => 1 }
    const loader = vi.fn(async () => value)
    expect(await a.getOrLoad('k', loader)).toBe(value)
    expect(await a.getOrLoad('k', loader)).toBe(value)
    expect(loader).toHaveBeenCalledTimes(2)
    const seen = await a.inspect('k')
    expect(seen.l1).toBeUndefined()
    expect(seen.l2?.value).toBeUndefined()
    expect(a.stats().errors.serialization).toBe(2)
    await expect(a.set('k', value)).rejects.toBeInstanceOf(SerializationError)
  })

  it('rejects bad keys and use after close with typed errors', async () => {
    const a = cache<string>({ name: 'bad' })
    await expect(a.getOrLoad('', async () => 'x')).rejects.toMatchObject({ code: 'E_CACHE_INVALID_KEY' })
    await expect(a.getOrLoad('x'.repeat(2000), async () => 'x')).rejects.toMatchObject({
      code: 'E_CACHE_INVALID_KEY',
    })
    expect(() => createCache({ name: 'no spaces' })).toThrow(/name/)
    await a.close()
    await expect(a.getOrLoad('k', async () => 'x')).rejects.toBeInstanceOf(ClosedError)
  })
})

describe('fail-safe L2', () => {
  it('gives callers the loader data when L2 throws, and opens the circuit', async () => {
    const l2 = faultyTier(createMemoryTier())
    const a = cache<string>({ name: 'fs', l2, l1: false, breaker: { failures: 3, resetAfter: '50ms' } })
    l2.mode = 'throw'
    for (let i = 0; i < 5; i++) expect(await a.getOrLoad('k', async () => 'db')).toBe('db')
    expect(a.stats().l2.circuit).toBe('open')
    const callsWhileOpen = l2.calls
    await a.getOrLoad('k', async () => 'db')
    expect(l2.calls).toBe(callsWhileOpen) // open: Redis is not even tried
    l2.mode = 'ok'
    await sleep(60)
    expect(await a.getOrLoad('k', async () => 'db2')).toBe('db2') // the probe succeeds and closes it
    expect(a.stats().l2.circuit).toBe('closed')
    expect(a.stats().errors.circuitOpened).toBe(1)
  })

  it('bounds every L2 call by l2Timeout', async () => {
    const l2 = faultyTier(createMemoryTier())
    const a = cache<string>({ name: 'to', l2, l2Timeout: '30ms' })
    l2.mode = 'hang'
    const t0 = Date.now()
    expect(await a.getOrLoad('k', async () => 'db')).toBe('db')
    expect(Date.now() - t0).toBeLessThan(500)
    expect(a.stats().errors.l2Timeouts).toBeGreaterThanOrEqual(1)
    await expect(a.invalidate('k')).rejects.toMatchObject({ code: 'E_CACHE_INVALIDATION_FAILED' })
  })
  it('absorbs a tier get that throws synchronously or returns garbage, and loads', async () => {
    const inner = createMemoryTier()
    let get: L2Tier['get'] = () => {
      throw new Error('sync boom')
    }
    const l2: L2Tier = new Proxy(inner, {
      get: (target, prop, receiver) => (prop === 'get' ? get : Reflect.get(target, prop, receiver)),
    })
    const errors: unknown[] = []
    const a = cache<string>({ name: 'sy', l2, l1: false, onError: (e) => errors.push(e) })
    expect(await a.getOrLoad('k', async () => 'db')).toBe('db')
    expect(errors).toMatchObject([{ message: 'sync boom' }])
    expect(a.stats()).toMatchObject({ loads: 1, l2: { hits: 0, misses: 0 } })
    get = async () => Buffer.from('garbage')
    // A miss: the lease step then finds the value the first load filled.
    expect(await a.getOrLoad('k', async () => 'db2')).toBe('db')
    expect(a.stats()).toMatchObject({ loads: 1, l2: { hits: 0, misses: 1 }, errors: { serialization: 1 } })
    get = (key) => inner.get(key)
    expect(await a.getOrLoad('k', async () => 'db3')).toBe('db')
    expect(a.stats()).toMatchObject({ loads: 1, l2: { hits: 1, misses: 1 } })
  })
})

describe('writes and invalidation', () => {
  it('set writes through and other instances drop their L1 copy', async () => {
    const l2 = createMemoryTier()
    const bus = createMemoryBus()
    const a = cache<number>({ name: 'w', l2, bus })
    const b = cache<number>({ name: 'w', l2, bus })
    await sleep(1)
    await b.getOrLoad('k', async () => 1)
    await a.set('k', 2)
    expect(await a.getOrLoad('k', async () => -1)).toBe(2)
    expect(await b.getOrLoad('k', async () => -1)).toBe(2)
    expect(a.stats().bus.messagesOut).toBe(1)
    expect(b.stats().bus.messagesIn).toBe(1)
  })

  it('invalidateTag drops tagged keys on every tier and instance, leaving others', async () => {
    const l2 = createMemoryTier()
    const bus = createMemoryBus()
    const a = cache<string>({ name: 'tag', l2, bus })
    const b = cache<string>({ name: 'tag', l2, bus })
    await sleep(1)
    await a.getOrLoad('p1', async () => 'one', { tags: ['cat:1'] })
    await b.getOrLoad('p1', async () => 'x')
    await b.getOrLoad('p2', async () => 'two', { tags: ['cat:2'] })
    await a.invalidateTag('cat:1')
    expect(await a.inspect('p1')).toEqual({ l2: { token: expect.any(String) } })
    expect((await b.inspect('p1')).l1).toBeUndefined()
    expect((await b.inspect('p2')).l1?.value).toBe('two')
  })

  it('clear drops everything everywhere', async () => {
    const l2 = createMemoryTier()
    const bus = createMemoryBus()
    const a = cache<string>({ name: 'clr', l2, bus })
    const b = cache<string>({ name: 'clr', l2, bus })
    await sleep(1)
    await a.getOrLoad('x', async () => 'x')
    await b.getOrLoad('y', async () => 'y')
    await a.clear()
    expect(a.stats().l1.size + b.stats().l1.size).toBe(0)
    expect(l2.size).toBe(0)
  })

  it('deleteLocal drops only this L1', async () => {
    const l2 = createMemoryTier()
    const a = cache<string>({ name: 'dl', l2 })
    await a.getOrLoad('k', async () => 'v')
    a.deleteLocal('k')
    const seen = await a.inspect('k')
    expect(seen.l1).toBeUndefined()
    expect(seen.l2?.value).toBe('v')
  })
})

describe('stats and metrics', () => {
  it('stats is plain JSON and metrics go only to the registry given', async () => {
    const registry = new Registry()
    const a = cache<string>({ name: 'm', l2: createMemoryTier() })
    const b = cache<string>({ name: 'm2', l2: createMemoryTier() })
    registerCacheMetrics(registry, a)
    registerCacheMetrics(registry, b)
    await a.getOrLoad('k', async () => 'v')
    await a.getOrLoad('k', async () => 'v')
    await b.getOrLoad('k', async () => 'v')
    expect(JSON.parse(JSON.stringify(a.stats()))).toEqual(a.stats())
    const text = await registry.metrics()
    expect(text).toMatch(/concord_cache_hits_total\{cache="m",instance="[^"]+",tier="l1"\} 1/)
    expect(text).toMatch(/concord_cache_loads_total\{cache="m2",instance="[^"]+"\} 1/)
    const { register } = await import('prom-client')
    expect(await register.getSingleMetric('concord_cache_hits_total')).toBeUndefined()
  })
})
