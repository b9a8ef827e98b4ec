import type { SpanRecorder } from '../tracing.js'
import type { entryOptionsSchema, ParsedCacheOptions } from './cache-options.js'
import { decode, type Envelope, encode } from './envelope.js'
import type { L2Guard, Watcher } from './guard.js'
import { type Flight, type Loader, runLoader, startLoad } from './lease.js'
import type { LocalState } from './local.js'
import type { RecentWrites } from './recent-writes.js'
import type { Counters } from './stats.js'
import type { L2Tier } from './tier.js'

export type ParsedEntryOptions = ReturnType<typeof entryOptionsSchema.parse>

/** What the read path needs from its cache. */
export interface ReadPathDeps {
  o: ParsedCacheOptions
  prefix: string
  l2: L2Tier | undefined
  guard: L2Guard
  local: LocalState
  recent: RecentWrites
  counters: Counters
  absorb(error: unknown): void
  tagKey(tag: string): string
  jittered(ttl: number): number
}

/**
 * An L1 miss: L2, else the lease and the loader, then the fenced fill of L2 and L1. Cache faults are absorbed
 * (reported to `onError`, counted) and the loader's data returned; only the loader's own error is thrown, and
 * only when no value within grace can be served instead.
 */
export class ReadPath {
  constructor(readonly d: ReadPathDeps) {}

  /**
   * An L1 miss of `key` with no flight in this process: registers one (which invalidations fence) and returns
   * its promise, which ends it when settled. With the circuit closed the L2 read is one promise (`L2Read`, also
   * the flight): a fresh hit settles it straight from the tier's reply; anything else continues in `load`.
   */
  start(
    key: string,
    loader: Loader<unknown>,
    entry: ParsedEntryOptions,
    trace: SpanRecorder | undefined,
  ): Promise<unknown> {
    const { d } = this
    if (d.l2 !== undefined && d.guard.state === 'closed' && !d.recent.distrustsL2(key)) {
      const read = new L2Read(this, key, loader, entry, d.local.generation)
      read.trace = trace
      d.local.addFlight(key, read)
      opening = read
      read.promise = new Promise(capture)
      read.send(d.l2, d.guard)
      return read.promise
    }
    const flight = d.local.startFlight(key, entry?.tags)
    flight.trace = trace
    flight.promise = this.load(key, loader, entry, flight, true, undefined)
    return flight.promise
  }

  /**
   * The rest of an L1 miss. `readFirst`: read L2 first (when it can be); else L2 was read (`L2Read`) and found
   * nothing fresh, `stale` being what it found.
   */
  async load(
    key: string,
    loader: Loader<unknown>,
    entry: ParsedEntryOptions,
    flight: Flight,
    readFirst: boolean,
    stale: Envelope | undefined,
  ): Promise<unknown> {
    try {
      const { d } = this
      const full = d.prefix + key
      let token: string | undefined
      let lsn: string | undefined
      let leaseId: string | undefined
      if (readFirst ? d.l2 && d.guard.available && !d.recent.distrustsL2(key) : true) {
        try {
          if (readFirst) {
            const found = await this.readL2(key)
            if (found && found.expiresAt > Date.now()) {
              if (flight.trace) served(flight.trace, 'l2')
              d.local.fill(key, found, flight, d.o.grace, flight.tags)
              return found.value
            }
            stale = found
          }
          const start = await startLoad(
            d.l2!,
            d.guard,
            full,
            (entry?.tags ?? []).map(d.tagKey),
            {
              leaseMs: d.o.lease.ttl,
              waitMs: d.o.lease.wait,
              fenceTtlMs: d.o.fenceTtl,
              // This entry's own lifetime: a key cached longer than the default must stay findable by its tags.
              tagTtlMs: d.o.fenceTtl + (entry?.ttl ?? d.o.ttl) + (entry?.grace ?? d.o.grace),
            },
            d.counters,
          )
          if (start.kind === 'blob') {
            const envelope = this.decode(start.blob)
            if (envelope && envelope.expiresAt > Date.now()) {
              // Another instance's load, waited for under its lease.
              if (flight.trace) served(flight.trace, 'l2')
              d.local.fill(key, envelope, flight, d.o.grace, flight.tags)
              return envelope.value
            }
          } else {
            ;({ token, lsn, leaseId } = start)
          }
        } catch (error) {
          d.absorb(error) // L2 trouble: load without a token; nothing will be filled in L2
        }
      }
      d.counters.loads++
      if (flight.trace) served(flight.trace, 'loader')
      let value: unknown
      try {
        value = await runLoader(loader, key, d.recent.minLsn(key, lsn), d.o.loadTimeout)
      } catch (error) {
        d.counters.loadErrors++
        if (leaseId) this.release(full, leaseId)
        const fallback = this.graceValue(key, stale)
        if (fallback) {
          flight.trace?.set('cache.stale_served', true)
          d.counters.graceServed++
          return fallback.value
        }
        throw error
      }
      await this.fill(key, value, entry, flight, token, leaseId)
      return value
    } finally {
      // Here rather than a .finally() on the caller's side: one promise fewer per miss.
      this.d.local.endFlight(key, flight)
    }
  }

  /** `readL2`'s accounting of a blob read: the envelope (a decode fault absorbed), a hit counted when fresh. */
  counted(blob: Buffer | undefined | null, now: number): Envelope | undefined {
    const envelope = blob ? this.decode(blob) : undefined
    if (envelope !== undefined && envelope.expiresAt > now) this.d.counters.l2Hits++
    else this.d.counters.l2Misses++
    return envelope
  }

  /** L2's envelope for `key`, counting a hit only when fresh; `undefined` on a miss or an absorbed fault. */
  async readL2(key: string): Promise<Envelope | undefined> {
    const { d } = this
    if (d.recent.distrustsL2(key)) return undefined
    let blob: Buffer | undefined | null
    try {
      blob = await d.guard.run(() => d.l2!.get(d.prefix + key), 'get')
    } catch (error) {
      d.absorb(error)
      return undefined
    }
    return this.counted(blob, Date.now())
  }

  private async fill(
    key: string,
    value: unknown,
    entry: ParsedEntryOptions,
    flight: Flight,
    token: string | undefined,
    leaseId: string | undefined,
  ): Promise<void> {
    const { d } = this
    const full = d.prefix + key
    const negative = value === undefined
    const negativeTtl = entry?.negativeTtl ?? d.o.negativeTtl
    if (negative && negativeTtl === undefined) {
      if (leaseId) this.release(full, leaseId)
      return
    }
    const ttl = d.jittered(negative ? negativeTtl! : (entry?.ttl ?? d.o.ttl))
    const grace = negative ? 0 : (entry?.grace ?? d.o.grace)
    const envelope: Envelope = { negative, value, expiresAt: Date.now() + ttl }
    let blob: Buffer
    try {
      blob = encode(d.o.serializer, value, envelope.expiresAt)
    } catch (error) {
      // Unserialisable: nothing is cached anywhere, the caller still gets the value.
      d.absorb(error)
      if (leaseId) this.release(full, leaseId)
      return
    }
    if (token !== undefined) {
      try {
        const stored = await d.guard.run(() => d.l2!.fill(full, token, blob, ttl + grace, leaseId), 'fill')
        if (!stored) {
          // An invalidation replaced the token while we loaded: our value may predate it (C3).
          d.counters.fencedL2++
          flight.trace?.event('cache.fill.rejected', { 'cache.fence.reason': 'l2-token' })
          return
        }
      } catch (error) {
        d.absorb(error)
      }
    }
    d.local.fill(key, envelope, flight, grace, entry?.tags)
    if (flight.trace) {
      // A local invalidation while loading keeps the value out of L1 (the flight is fenced).
      if (flight.fenced) flight.trace.event('cache.fill.rejected', { 'cache.fence.reason': 'invalidated' })
      else flight.trace.event('cache.fill', { 'cache.fill.l2': token !== undefined })
    }
  }

  private release(full: string, leaseId: string): void {
    this.d.guard.run(() => this.d.l2!.release(full, leaseId), 'release').catch(this.d.absorb)
  }

  decode(blob: Buffer): Envelope | undefined {
    try {
      return decode(this.d.o.serializer, blob)
    } catch (error) {
      this.d.absorb(error)
      return undefined
    }
  }

  private graceValue(key: string, stale: Envelope | undefined): { value: unknown } | undefined {
    const now = Date.now()
    const local = this.d.local.l1?.peek(key)
    if (local && local.staleUntil > now) return local
    if (stale && stale.expiresAt + this.d.o.grace > now) return stale
    return undefined
  }
}

/**
 * The L2 read of an L1 miss with the circuit closed, as one promise: the tier's reply goes straight to the
 * caller on a fresh hit (guarded and bounded like `L2Guard.run`, through `watch`); a miss, a stale value or an
 * L2 fault (absorbed) continues in `ReadPath.load`, which acquires the lease and loads.
 */
class L2Read implements Watcher<Buffer | undefined | null>, Flight {
  promise: Promise<unknown> = undefined as unknown as Promise<unknown>
  fenced = false
  trace: SpanRecorder | undefined = undefined
  readonly tags: readonly string[] | undefined
  resolve: (value: unknown) => void = noop
  reject: (error: unknown) => void = noop

  constructor(
    private readonly path: ReadPath,
    private readonly key: string,
    private readonly loader: Loader<unknown>,
    private readonly entry: ParsedEntryOptions,
    readonly generation: number,
  ) {
    this.tags = entry?.tags
  }

  send(l2: L2Tier, guard: L2Guard): void {
    let pending: Promise<Buffer | undefined | null>
    try {
      pending = l2.get(this.path.d.prefix + this.key)
    } catch (error) {
      pending = Promise.reject(error)
    }
    guard.watch(pending, this)
  }

  resolved(blob: Buffer | undefined | null): void {
    const { d } = this.path
    let stale: Envelope | undefined
    try {
      const now = Date.now()
      const envelope = this.path.counted(blob, now)
      if (envelope !== undefined && envelope.expiresAt > now) {
        if (this.trace) served(this.trace, 'l2')
        d.local.fill(this.key, envelope, this, d.o.grace, this.tags)
        d.local.endFlight(this.key, this)
        this.resolve(envelope.value)
        return
      }
      stale = envelope
    } catch (error) {
      this.fault(error)
      return
    }
    this.next(stale)
  }

  rejected(error: unknown): void {
    this.fault(error)
  }

  expire(): void {
    this.fault(this.path.d.guard.timedOut('get'))
  }

  /** An L2 fault, absorbed like `readL2` absorbs one: then on as after a miss. */
  private fault(error: unknown): void {
    try {
      this.path.d.absorb(error)
    } catch (thrown) {
      this.path.d.local.endFlight(this.key, this)
      this.reject(thrown)
      return
    }
    this.next(undefined)
  }

  private next(stale: Envelope | undefined): void {
    this.resolve(this.path.load(this.key, this.loader, this.entry, this, false, stale))
  }
}

const noop = (): void => {}

/** Where a traced `getOrLoad` got its value (docs/guides/tracing.md: `cache.tier`, `cache.hit`). */
export function served(span: SpanRecorder, tier: 'l1' | 'l2' | 'loader'): void {
  span.set('cache.tier', tier)
  span.set('cache.hit', tier !== 'loader')
}
/** The `L2Read` whose promise is being made: `capture` (one executor for all, not a closure per read) fills it in. */
let opening: L2Read | undefined
function capture(resolve: (value: unknown) => void, reject: (error: unknown) => void): void {
  opening!.resolve = resolve
  opening!.reject = reject
  opening = undefined
}
