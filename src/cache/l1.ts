import { LRUCache } from 'lru-cache'

/**
 * An L1 entry. `promise` is the value already resolved, made once at fill time, so a hit returns it without
 * allocating. Expiry is checked by the cache against `expiresAt` (lru-cache's own TTL clock costs more per get).
 */
export interface L1Entry {
  value: unknown
  promise: Promise<unknown>
  expiresAt: number
  /** Until when the value may be served if the loader fails (grace); `expiresAt` when no grace. */
  staleUntil: number
  tags: readonly string[] | undefined
}

export function createL1(maxEntries: number): LRUCache<string, L1Entry> {
  return new LRUCache<string, L1Entry>({ max: maxEntries })
}

export function l1Entry(
  value: unknown,
  expiresAt: number,
  staleUntil: number,
  tags: readonly string[] | undefined,
): L1Entry {
  return { value, promise: Promise.resolve(value), expiresAt, staleUntil, tags }
}

/** Removes the entries carrying `tag`. A scan: tag invalidations are rare next to reads, and this keeps fills cheap. */
export function dropTag(l1: LRUCache<string, L1Entry>, tag: string): number {
  const doomed: string[] = []
  for (const [key, entry] of l1.entries()) {
    if (entry.tags?.includes(tag)) doomed.push(key)
  }
  for (const key of doomed) l1.delete(key)
  return doomed.length
}
