import type { AcquireRequest, AcquireResult, L2Tier } from '../cache/kit.js'
import { blobExpiry, FillWaiters, maxLsn } from '../cache/kit.js'

/**
 * The embedded L2: one shared in-process store with the same semantics as the Redis tier (tokens, fenced fills,
 * leases with value hand-off, tags). Share one `createMemoryTier()` between caches to model instances sharing Redis.
 * Expiry is checked on access (no timers).
 */
export function createMemoryTier(): L2Tier & { readonly size: number } {
  const values = new Map<string, { blob: Buffer; expiresAt: number }>()
  const fences = new Map<string, { token: string; lsn: string | undefined; expiresAt: number }>()
  const leases = new Map<string, { id: string; expiresAt: number; waiters: boolean }>()
  const tags = new Map<string, { keys: Set<string>; expiresAt: number }>()
  const waiters = new FillWaiters()

  function live<V extends { expiresAt: number }>(map: Map<string, V>, key: string): V | undefined {
    const entry = map.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      map.delete(key)
      return undefined
    }
    return entry
  }

  const notify = (key: string, blob: Buffer | null) => waiters.wake(key, blob)

  function invalidateOne(key: string, lsn: string | undefined, fenceTtlMs: number): void {
    const previous = live(fences, key)
    fences.set(key, {
      token: crypto.randomUUID(),
      lsn: maxLsn(previous?.lsn, lsn),
      expiresAt: Date.now() + fenceTtlMs,
    })
    values.delete(key)
    if (leases.delete(key)) notify(key, null)
  }

  /** Adds `key` to each tag's set; a set's lifetime only grows (a shorter-lived key must not cut a longer one's). */
  function tagKey(key: string, tagList: readonly string[], ttlMs: number, now: number): void {
    for (const tag of tagList) {
      const set = live(tags, tag) ?? { keys: new Set<string>(), expiresAt: 0 }
      set.keys.add(key)
      set.expiresAt = Math.max(set.expiresAt, now + ttlMs)
      tags.set(tag, set)
    }
  }

  return {
    kind: 'memory',
    get size() {
      return values.size
    },
    async get(key) {
      return live(values, key)?.blob
    },
    async acquire(key, request: AcquireRequest): Promise<AcquireResult> {
      const now = Date.now()
      tagKey(key, request.tags, request.tagTtlMs, now)
      const value = live(values, key)
      if (value !== undefined && blobExpiry(value.blob) > now) return { kind: 'hit', blob: value.blob }
      let fence = live(fences, key)
      if (fence === undefined) {
        fence = { token: request.newToken, lsn: undefined, expiresAt: now + request.fenceTtlMs }
        fences.set(key, fence)
      }
      const lease = live(leases, key)
      if (lease === undefined) {
        leases.set(key, { id: request.leaseId, expiresAt: now + request.leaseMs, waiters: false })
        return { kind: 'lease', token: fence.token, lsn: fence.lsn }
      }
      lease.waiters = true
      return { kind: 'busy', token: fence.token, lsn: fence.lsn }
    },
    async fill(key, token, blob, ttlMs, leaseId) {
      const ok = live(fences, key)?.token === token
      if (ok) values.set(key, { blob, expiresAt: Date.now() + ttlMs })
      // Only the holder ends the lease and wakes its waiters: with the value, or to load themselves.
      if (leaseId !== undefined && live(leases, key)?.id === leaseId) {
        leases.delete(key)
        notify(key, ok ? blob : null)
      }
      return ok
    },
    async release(key, leaseId) {
      if (live(leases, key)?.id !== leaseId) return
      leases.delete(key)
      notify(key, null)
    },
    async prepareWait() {},
    waitForFill: (key, timeoutMs) => waiters.wait(key, timeoutMs),
    async invalidate(keys, lsn, fenceTtlMs) {
      for (const key of keys) invalidateOne(key, lsn, fenceTtlMs)
    },
    async invalidateTag(tag, fenceTtlMs) {
      const set = live(tags, tag)
      tags.delete(tag)
      const keys = set === undefined ? [] : [...set.keys]
      for (const key of keys) invalidateOne(key, undefined, fenceTtlMs)
      return keys
    },
    async write(key, blob, ttlMs, tagList, fenceTtlMs) {
      invalidateOne(key, undefined, fenceTtlMs)
      const now = Date.now()
      values.set(key, { blob, expiresAt: now + ttlMs })
      tagKey(key, tagList, Math.max(ttlMs, fenceTtlMs), now)
    },
    async invalidatePrefix(keyPrefix, fenceTtlMs) {
      const keys = new Set<string>()
      for (const key of values.keys()) if (key.startsWith(keyPrefix)) keys.add(key)
      for (const key of leases.keys()) if (key.startsWith(keyPrefix)) keys.add(key)
      for (const key of keys) invalidateOne(key, undefined, fenceTtlMs)
      return keys.size
    },
    async inspect(key) {
      const value = live(values, key)
      const fence = live(fences, key)
      return {
        ...(value && { blob: value.blob, ttlMs: value.expiresAt - Date.now() }),
        ...(fence && { token: fence.token, ...(fence.lsn !== undefined && { lsn: fence.lsn }) }),
      }
    },
    open() {},
    async close() {},
  }
}
