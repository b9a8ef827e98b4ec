import { LRUCache } from 'lru-cache'
import { maxLsn } from './lsn.js'

/**
 * What this process knows of its own recent invalidations, per key, independently of L2:
 * - the highest commit LSN it invalidated with, so a fill reads a replica at or past it even when L2 (which
 *   keeps the LSN beside the version token) cannot be reached (C1 with C4);
 * - keys whose L2 invalidation was not confirmed (a timeout, an open circuit): L2 may still hold the older
 *   value, so this process neither reads nor fills L2 for them until an invalidation is confirmed or the
 *   fence's lifetime passes, by when the durable invalidation (outbox relay) has healed L2.
 * Bounded like L1, so a burst of writes cannot grow it without limit.
 */
export class RecentWrites {
  private readonly lsns: LRUCache<string, string>
  private readonly unconfirmed: LRUCache<string, true>

  constructor(maxEntries: number, ttlMs: number) {
    this.lsns = new LRUCache({ max: maxEntries, ttl: ttlMs })
    this.unconfirmed = new LRUCache({ max: maxEntries, ttl: ttlMs })
  }

  written(key: string, lsn: string): void {
    this.lsns.set(key, maxLsn(this.lsns.get(key), lsn)!)
  }

  /** The LSN a fill of `key` must read at or past: the higher of L2's and this process's own. */
  minLsn(key: string, fromL2: string | undefined): string | undefined {
    if (this.lsns.size === 0) return fromL2
    return maxLsn(this.lsns.get(key), fromL2)
  }

  l2Unconfirmed(keys: readonly string[]): void {
    for (const key of keys) this.unconfirmed.set(key, true)
  }

  l2Confirmed(keys: readonly string[]): void {
    if (this.unconfirmed.size === 0) return
    for (const key of keys) this.unconfirmed.delete(key)
  }

  /** Whether L2 may hold a value older than this process's last write of `key`. */
  distrustsL2(key: string): boolean {
    return this.unconfirmed.size > 0 && this.unconfirmed.has(key)
  }
}
