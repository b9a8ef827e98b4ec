import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AcquireRequest, L2Tier } from '../cache/index.js'
import { sleep, waitFor } from './wait.js'

/** Two tiers over one store, as two instances of a service have, and how to clean up after them. */
export interface TierFixture {
  /** Two clients of one store (the memory tier: the same tier twice). */
  tiers: [L2Tier, L2Tier]
  /** Runs after both tiers are closed: remove what the tests stored. */
  cleanup?(): Promise<void>
}

/** How `runTierContract` makes the L2 tier under test and cleans up. */
export interface TierContractOptions {
  /** Names the suite: `L2 tier contract: <name>`. */
  name: string
  /** Called once before the tests. */
  create(): TierFixture | Promise<TierFixture>
}

/**
 * The L2 tier contract: what the cache's fencing (C3) and cross-instance single flight rely on. Every tier
 * (memory, Redis standalone, Redis Cluster, and yours) passes it. Registers a vitest `describe` block.
 */
export function runTierContract({ name, create }: TierContractOptions): void {
  describe(`L2 tier contract: ${name}`, () => {
    let a: L2Tier
    let b: L2Tier
    let cleanup: (() => Promise<void>) | undefined
    let n = 0
    const key = (label: string) => `t:${label}:${++n}`
    const req = (over: Partial<AcquireRequest> = {}): AcquireRequest => ({
      leaseId: randomUUID(),
      leaseMs: 5000,
      newToken: randomUUID(),
      fenceTtlMs: 60_000,
      tags: [],
      tagTtlMs: 60_000,
      ...over,
    })
    const blob = (text: string) => Buffer.from(text)
    /** Absent may be `null` or `undefined` from a tier; the cache treats both alike. */
    const read = async (tier: L2Tier, k: string) => (await tier.get(k)) ?? undefined

    beforeAll(async () => {
      const made = await create()
      ;[a, b] = made.tiers
      a.open()
      b.open()
      cleanup = made.cleanup
    })
    afterAll(async () => {
      await a?.close()
      await b?.close()
      await cleanup?.()
    })

    it('a cold key: get is empty, the first acquire gets the lease, the next is busy with the same token', async () => {
      const k = key('cold')
      expect(await read(a, k)).toBeUndefined()
      const first = await a.acquire(k, req())
      const second = await b.acquire(k, req())
      expect(first.kind).toBe('lease')
      expect(second.kind).toBe('busy')
      if (first.kind === 'hit' || second.kind === 'hit') throw new Error('unexpected hit')
      expect(second.token).toBe(first.token)
      expect(first.lsn).toBeUndefined()
    })

    it('fills only when the token is unchanged (compare-and-set), and acquire then returns the value', async () => {
      const k = key('cas')
      const started = await a.acquire(k, req())
      if (started.kind !== 'lease') throw new Error(started.kind)
      expect(await a.fill(k, 'not-the-token', blob('x'), 60_000)).toBe(false)
      expect(await read(a, k)).toBeUndefined()
      expect(await a.fill(k, started.token, blob('v1'), 60_000)).toBe(true)
      expect((await read(b, k))?.toString()).toBe('v1')
      const again = await b.acquire(k, req())
      expect(again.kind === 'hit' && again.blob.toString()).toBe('v1')
    })

    it('invalidate deletes the value and replaces the token, so a load that started before cannot fill', async () => {
      const k = key('inv')
      const started = await a.acquire(k, req())
      if (started.kind !== 'lease') throw new Error(started.kind)
      await b.invalidate([k], undefined, 60_000)
      expect(await a.fill(k, started.token, blob('stale'), 60_000, undefined)).toBe(false)
      expect(await read(a, k)).toBeUndefined()
      const next = await a.acquire(k, req())
      if (next.kind === 'hit') throw new Error('hit')
      expect(next.token).not.toBe(started.token)
      expect(next.kind).toBe('lease') // the invalidation dropped the old lease
    })

    it('an invalidation always creates a token: a fill after it against "no token" cannot exist', async () => {
      const k = key('absent')
      await a.invalidate([k], undefined, 60_000)
      const seen = await a.inspect(k)
      expect(seen.token).toEqual(expect.any(String))
      expect(seen.blob).toBeUndefined()
    })

    it('tokens never repeat', async () => {
      const k = key('unique')
      const tokens = new Set<string>()
      for (let i = 0; i < 20; i++) {
        await a.invalidate([k], undefined, 60_000)
        tokens.add((await a.inspect(k)).token!)
      }
      expect(tokens.size).toBe(20)
    })

    it('keeps the highest LSN beside the token and hands it to loads', async () => {
      const k = key('lsn')
      await a.invalidate([k], '0/16B3748', 60_000)
      await b.invalidate([k], '0/9', 60_000) // numerically older
      await b.invalidate([k], undefined, 60_000) // none given: kept
      const started = await a.acquire(k, req())
      expect(started.kind !== 'hit' && started.lsn).toBe('0/16B3748')
      await a.invalidate([k], '1/0', 60_000)
      expect((await a.inspect(k)).lsn).toBe('1/0')
    })

    it('hands the holder’s value to a waiter on another instance', async () => {
      const k = key('handoff')
      const holder = await a.acquire(k, req())
      if (holder.kind !== 'lease') throw new Error(holder.kind)
      expect((await b.acquire(k, req())).kind).toBe('busy')
      await b.prepareWait()
      const waiting = b.waitForFill(k, 10_000)
      await sleep(10)
      expect(await a.fill(k, holder.token, blob('loaded'), 60_000, req().leaseId)).toBe(true) // not the lease id
      await sleep(20)
      const leaseId = randomUUID()
      const k2 = key('handoff2')
      const holder2 = await a.acquire(k2, req({ leaseId }))
      if (holder2.kind !== 'lease') throw new Error(holder2.kind)
      expect((await b.acquire(k2, req())).kind).toBe('busy')
      const waiting2 = b.waitForFill(k2, 2000)
      const t0 = Date.now()
      expect(await a.fill(k2, holder2.token, blob('loaded2'), 60_000, leaseId)).toBe(true)
      expect((await waiting2)?.toString()).toBe('loaded2')
      expect(Date.now() - t0).toBeLessThan(500)
      // The first waiter was not the lease holder's: it is told nothing and times out (bounded), never hangs.
      expect(await Promise.race([waiting, sleep(50).then(() => 'still waiting')])).toBe('still waiting')
    })

    it('wakes waiters without a value when the holder releases or its fill is fenced', async () => {
      const k = key('release')
      const leaseId = randomUUID()
      await a.acquire(k, req({ leaseId }))
      expect((await b.acquire(k, req())).kind).toBe('busy')
      await b.prepareWait()
      const waiting = b.waitForFill(k, 2000)
      await a.release(k, leaseId)
      expect(await waiting).toBeNull()
      expect((await b.acquire(k, req())).kind).toBe('lease') // free again

      const k2 = key('fenced')
      const leaseId2 = randomUUID()
      const started = await a.acquire(k2, req({ leaseId: leaseId2 }))
      if (started.kind !== 'lease') throw new Error(started.kind)
      expect((await b.acquire(k2, req())).kind).toBe('busy')
      const waiting2 = b.waitForFill(k2, 2000)
      await b.invalidate([k2], undefined, 60_000) // drops the lease and wakes its waiters
      expect(await waiting2).toBeNull()
      expect(await a.fill(k2, started.token, blob('stale'), 60_000, leaseId2)).toBe(false)
    })

    it('a wait times out (undefined) when nobody fills', async () => {
      await b.prepareWait()
      const t0 = Date.now()
      expect(await b.waitForFill(key('nobody'), 60)).toBeUndefined()
      expect(Date.now() - t0).toBeGreaterThanOrEqual(55)
    })

    it('acquire treats a value past its logical expiry (kept for grace) as absent, so one instance refreshes it', async () => {
      const k = key('grace')
      const leaseId = randomUUID()
      const started = await a.acquire(k, req({ leaseId }))
      if (started.kind !== 'lease') throw new Error(started.kind)
      const expired = Buffer.from(`v${Date.now() - 1}|stale`)
      expect(await a.fill(k, started.token, expired, 60_000, leaseId)).toBe(true)
      expect((await read(b, k))?.toString()).toBe(expired.toString()) // still there for grace
      const refresh = await b.acquire(k, req())
      expect(refresh.kind).toBe('lease')
      expect((await a.acquire(k, req())).kind).toBe('busy')
    })

    it('lets a value expire after its TTL', async () => {
      const k = key('ttl')
      const started = await a.acquire(k, req())
      if (started.kind !== 'lease') throw new Error(started.kind)
      // A TTL the read just after the fill beats by a wide margin on a loaded machine; then wait for expiry
      // and check it did not come early (`filled` is taken before the fill, so expiry is at least TTL after).
      const TTL = 1000
      const filled = Date.now()
      await a.fill(k, started.token, blob('short'), TTL)
      expect(await read(a, k)).toBeDefined()
      await waitFor(async () => (await read(a, k)) === undefined, {
        timeoutMs: TTL + 10_000,
        intervalMs: 25,
        what: 'the value to expire',
      })
      expect(Date.now() - filled).toBeGreaterThanOrEqual(TTL - 2) // Redis rounds expiry to the millisecond
    })

    it('invalidateTag invalidates keys registered by acquire, including one still loading', async () => {
      const tag = `tag:${++n}`
      const k1 = key('tag1')
      const k2 = key('tag2')
      const other = key('tag3')
      const s1 = await a.acquire(k1, req({ tags: [tag] }))
      if (s1.kind !== 'lease') throw new Error(s1.kind)
      await a.fill(k1, s1.token, blob('one'), 60_000)
      const s2 = await a.acquire(k2, req({ tags: [tag] })) // loading, not filled yet
      if (s2.kind !== 'lease') throw new Error(s2.kind)
      const s3 = await a.acquire(other, req({ tags: ['other'] }))
      if (s3.kind !== 'lease') throw new Error(s3.kind)
      await a.fill(other, s3.token, blob('three'), 60_000)
      expect((await b.invalidateTag(tag, 60_000)).sort()).toEqual([k1, k2].sort())
      expect(await read(a, k1)).toBeUndefined()
      expect(await a.fill(k2, s2.token, blob('stale'), 60_000)).toBe(false)
      expect((await read(a, other))?.toString()).toBe('three')
      expect(await b.invalidateTag(tag, 60_000)).toEqual([])
    })

    it("a tag's set lives as long as its longest-lived key: a shorter-lived key does not cut it short", async () => {
      const tag = `tag:${++n}`
      const long = key('long')
      const short = key('short')
      await a.write(long, blob('long'), 60_000, [tag], 60_000)
      const started = await b.acquire(short, req({ tags: [tag], tagTtlMs: 100 }))
      if (started.kind !== 'lease') throw new Error(started.kind)
      await sleep(300)
      expect((await b.invalidateTag(tag, 60_000)).sort()).toEqual([long, short].sort())
      expect(await read(a, long)).toBeUndefined()
    })

    it('write stores a value under a new token, fencing loads that started before', async () => {
      const k = key('write')
      const started = await a.acquire(k, req())
      if (started.kind !== 'lease') throw new Error(started.kind)
      await b.write(k, blob('written'), 60_000, [], 60_000)
      expect(await a.fill(k, started.token, blob('stale'), 60_000)).toBe(false)
      expect((await read(a, k))?.toString()).toBe('written')
    })

    it('invalidatePrefix invalidates every key under a prefix and nothing else', async () => {
      const prefix = `pfx${++n}:`
      for (const suffix of ['a', 'b', 'c{d}']) {
        const k = `${prefix}${suffix}`
        const s = await a.acquire(k, req())
        if (s.kind !== 'lease') throw new Error(s.kind)
        await a.fill(k, s.token, blob(suffix), 60_000)
      }
      const keep = key('keep')
      const s = await a.acquire(keep, req())
      if (s.kind !== 'lease') throw new Error(s.kind)
      await a.fill(keep, s.token, blob('keep'), 60_000)
      expect(await b.invalidatePrefix(prefix, 60_000)).toBe(3)
      expect(await read(a, `${prefix}a`)).toBeUndefined()
      expect(await read(a, `${prefix}c{d}`)).toBeUndefined()
      expect((await read(a, keep))?.toString()).toBe('keep')
    })

    it('stores binary blobs and odd keys intact', async () => {
      const k = `${key('odd')}:{x}}{é ü/*?`
      const data = Buffer.from([0, 1, 2, 0x0a, 0xff, 0x7c, 0x66])
      const s = await a.acquire(k, req())
      if (s.kind !== 'lease') throw new Error(s.kind)
      expect(await a.fill(k, s.token, data, 60_000)).toBe(true)
      expect(await read(b, k)).toEqual(data)
    })
  })
}
