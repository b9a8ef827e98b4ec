import type { LRUCache } from 'lru-cache'
import type { Envelope } from './envelope.js'
import { createL1, dropTag, type L1Entry, l1Entry } from './l1.js'
import type { Flight } from './lease.js'
import type { Counters } from './stats.js'

/**
 * This instance's share of consistency: L1, the loads in flight, and the fences between them (C1, C3 for L1).
 * - every local or bus invalidation marks the key's load in flight `fenced` and unlists it, so its result stays out
 *   of L1 and later readers start a fresh load instead of joining one that may have read the old state;
 * - a flush (invalidate-all, a bus health change) bumps `generation`, fencing every load begun before it;
 * - while the bus is unhealthy, L1 is neither read nor filled (`on` is false) (C2).
 */
export class LocalState {
  readonly l1: LRUCache<string, L1Entry> | undefined
  readonly flights = new Map<string, Flight>()
  /** L1 is used only while this is true: an L1 exists and the bus (if any) is healthy. */
  on: boolean
  generation = 0
  /** Bumped by every invalidation; `get` (which has no flight) fills L1 only if it did not move. */
  invalidations = 0
  private bypassSince: number | undefined

  constructor(
    maxEntries: number | undefined,
    private readonly ttl: number,
    hasBus: boolean,
    private readonly counters: Counters,
  ) {
    this.l1 = maxEntries === undefined ? undefined : createL1(maxEntries)
    this.on = this.l1 !== undefined && !hasBus
    // With a bus, L1 waits for the first sign of health: messages sent before we listened are unknown.
    if (this.l1 && hasBus) this.bypassSince = Date.now()
  }

  /** A new load of `key`, registered so invalidations can fence it. */
  startFlight(key: string, tags: readonly string[] | undefined): Flight {
    const flight: Flight = {
      promise: undefined as unknown as Promise<unknown>,
      fenced: false,
      generation: this.generation,
      tags,
      trace: undefined,
    }
    this.flights.set(key, flight)
    return flight
  }

  /** `startFlight` for a flight the caller made (its `generation` taken from here, `fenced` false). */
  addFlight(key: string, flight: Flight): void {
    this.flights.set(key, flight)
  }

  endFlight(key: string, flight: Flight): void {
    if (this.flights.get(key) === flight) this.flights.delete(key)
  }

  /** Puts a value in L1 unless an invalidation or a flush happened since the flight began. */
  fill(
    key: string,
    envelope: Envelope,
    flight: Flight | undefined,
    grace: number,
    tags: readonly string[] | undefined,
  ) {
    if (!this.on) return
    if (flight && (flight.fenced || flight.generation !== this.generation)) {
      this.counters.fencedL1++
      return
    }
    const expiresAt = Math.min(envelope.expiresAt, Date.now() + this.ttl)
    this.l1!.set(key, l1Entry(envelope.value, expiresAt, envelope.expiresAt + grace, tags))
  }

  drop(key: string): void {
    this.invalidations++
    this.l1?.delete(key)
    const flight = this.flights.get(key)
    if (flight) {
      flight.fenced = true
      this.flights.delete(key)
    }
  }

  dropTag(tag: string): void {
    this.invalidations++
    if (this.l1) dropTag(this.l1, tag)
    for (const [key, flight] of this.flights) {
      if (flight.tags?.includes(tag)) {
        flight.fenced = true
        this.flights.delete(key)
      }
    }
  }

  flush(): void {
    this.invalidations++
    this.generation++
    this.l1?.clear()
    for (const flight of this.flights.values()) flight.fenced = true
    this.flights.clear()
  }

  /** Bus health changed: flush either way (messages may have been lost), and use L1 only while healthy. */
  health(healthy: boolean): void {
    if (!this.l1) return
    this.flush()
    if (!healthy && this.bypassSince === undefined) {
      this.bypassSince = Date.now()
      this.counters.bypasses++
    } else if (healthy && this.bypassSince !== undefined) {
      this.counters.bypassMs += Date.now() - this.bypassSince
      this.bypassSince = undefined
    }
    this.on = healthy
  }

  bypassedMs(): number {
    return this.counters.bypassMs + (this.bypassSince === undefined ? 0 : Date.now() - this.bypassSince)
  }

  close(): void {
    this.on = false
    this.l1?.clear()
  }
}
