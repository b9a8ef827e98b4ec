import { hostname } from 'node:os'
import type { BusMember, EarlyDelivery, ReceivedMessage } from '../bus/kit.js'
import { ClosedError, InvalidInputError, SerializationError } from '../errors.js'
import { parseOptions } from '../options.js'
import { type SpanRecorder, traced, tracing } from '../tracing.js'
import {
  type CacheOptions,
  cacheOptionsSchema,
  type EntryOptions,
  entryOptionsSchema,
  type ParsedCacheOptions,
} from './cache-options.js'
import { decode, encode } from './envelope.js'
import { InvalidationFailedError, InvalidKeyError } from './errors.js'
import { L2Guard } from './guard.js'
import type { Loader } from './lease.js'
import { LocalState } from './local.js'
import { isLsn } from './lsn.js'
import { type ParsedEntryOptions, ReadPath, served } from './read-path.js'
import { RecentWrites } from './recent-writes.js'
import { type CacheStats, newCounters, snapshot } from './stats.js'
import type { Announcement, L2Tier } from './tier.js'

/** Early copies (see `spread`): for invalidations of at most this many keys (one message per key)... */
const MAX_EARLY_KEYS = 8
/** ...and at most this many such L2 writes in flight per cache; beyond, batching alone bounds the messages. */
const MAX_FUSING = 4

/** What `inspect` reports: raw state per tier, without loading or counting. */
export interface Inspection<T> {
  l1?: { value: T; expiresAt: number; staleUntil: number; tags?: readonly string[] }
  l2?: { value?: T; negative?: boolean; expiresAt?: number; token?: string; lsn?: string; ttlMs?: number }
}

/**
 * A multi-level cache: L1 (in-process LRU) -> L2 (`createMemoryTier` / `createRedisTier`) -> loader, with cross-instance
 * invalidation over a bus and fenced fills (docs/contract.md, C1-C3). Reads never throw cache faults.
 */
export class Cache<T> {
  readonly name: string
  readonly instanceId: string
  private readonly o: ParsedCacheOptions
  private readonly prefix: string
  private readonly l2: L2Tier | undefined
  private readonly guard: L2Guard
  private readonly member: BusMember | undefined
  /** The bus's early delivery, when the L2 tier can publish it (same server); see `spread`. */
  private readonly early: EarlyDelivery | undefined
  private fusing = 0
  private readonly counters = newCounters()
  private readonly local: LocalState
  private readonly recent: RecentWrites
  private readonly reads: ReadPath
  private closed = false

  constructor(options: CacheOptions) {
    const o = parseOptions('createCache', cacheOptionsSchema, options)
    this.o = o
    this.name = o.name
    this.instanceId = o.instanceId ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
    this.prefix = `${o.name}:`
    this.l2 = o.l2
    this.l2?.open()
    this.guard = new L2Guard(o.l2?.kind ?? 'none', o.l2Timeout, o.breaker.failures, o.breaker.resetAfter)
    this.local = new LocalState(
      o.l1 === false ? undefined : o.l1.maxEntries,
      o.l1 === false ? 0 : (o.l1.ttl ?? o.ttl),
      o.bus !== undefined,
      this.counters,
    )
    this.recent = new RecentWrites(o.l1 === false ? 10_000 : o.l1.maxEntries, o.fenceTtl)
    this.reads = new ReadPath({
      o,
      prefix: this.prefix,
      l2: this.l2,
      guard: this.guard,
      local: this.local,
      recent: this.recent,
      counters: this.counters,
      absorb: this.absorb,
      tagKey: this.tagKey,
      jittered: (ttl) => this.jittered(ttl),
    })
    this.member = o.bus?.connect({
      channel: o.name,
      instanceId: this.instanceId,
      onMessage: (message) => this.received(message),
      onHealth: (healthy) => {
        if (!this.closed) this.local.health(healthy)
      },
    })
    const early = this.member?.early
    this.early = early && this.l2?.announces?.(early.endpoint) ? early : undefined
  }

  /**
   * The value for `key`: from L1, else L2, else `loader` (one load per key in this process, and across instances
   * one per cold key, the others receiving its value). If the loader fails and a stale value is within grace, that
   * value is served; otherwise the loader's error is thrown. Cache faults never reach the caller.
   */
  getOrLoad(key: string, loader: Loader<T>, options?: EntryOptions): Promise<T> {
    if (tracing('cacheGetOrLoad')) return this.tracedGetOrLoad(key, loader, options)
    if (this.local.on) {
      const entry = this.local.l1!.get(key)
      if (entry !== undefined && entry.expiresAt > Date.now()) {
        this.counters.l1Hits++
        return entry.promise as Promise<T>
      }
    }
    return this.miss(key, loader, options) as Promise<T>
  }

  /** `getOrLoad` as a span and `concord.cache.getOrLoad` channel events (docs/guides/tracing.md). */
  private tracedGetOrLoad(key: string, loader: Loader<T>, options: EntryOptions | undefined): Promise<T> {
    const init = {
      name: `getOrLoad ${this.name}`,
      kind: 'internal' as const,
      attributes: { 'cache.name': this.name, 'cache.key': key },
    }
    return traced('cacheGetOrLoad', init, async (span) => {
      if (this.local.on) {
        const entry = this.local.l1!.get(key)
        if (entry !== undefined && entry.expiresAt > Date.now()) {
          this.counters.l1Hits++
          served(span, 'l1')
          return entry.promise as Promise<T>
        }
      }
      return (await this.miss(key, loader, options, span)) as T
    })
  }

  /** The cached value (L1, else L2), or `undefined`. Never loads. */
  async get(key: string): Promise<T | undefined> {
    this.open(key)
    if (this.local.on) {
      const entry = this.local.l1!.get(key)
      if (entry !== undefined && entry.expiresAt > Date.now()) {
        this.counters.l1Hits++
        return entry.value as T
      }
      this.counters.l1Misses++
    }
    if (!this.l2 || !this.guard.available) return undefined
    const before = this.local.invalidations
    const generation = this.local.generation
    const envelope = await this.reads.readL2(key)
    if (envelope === undefined) return undefined
    if (this.local.invalidations === before && this.local.generation === generation)
      this.local.fill(key, envelope, undefined, this.o.grace, undefined)
    return envelope.value as T
  }

  /**
   * Writes `value` (a real write): L2 gets it with a new version token, so loads that started earlier cannot fill
   * over it; other instances drop their L1 copy. Throws `SerializationError` for a value it cannot store, and
   * `InvalidationFailedError` when L2 or the bus did not confirm (this instance's L1 is dropped either way).
   */
  async set(key: string, value: T, options?: EntryOptions): Promise<void> {
    this.open(key)
    const entry = entryOptionsSchema.parse(options)
    const ttl = this.jittered(entry?.ttl ?? this.o.ttl)
    const expiresAt = Date.now() + ttl
    const grace = entry?.grace ?? this.o.grace
    const blob = encode(this.o.serializer, value, expiresAt)
    this.local.drop(key)
    const tags = entry?.tags ?? []
    const failure = await this.spread([key], (announce) =>
      this.l2!.write(this.prefix + key, blob, ttl + grace, tags.map(this.tagKey), this.o.fenceTtl, announce),
    )
    if (this.local.on && failure === undefined) {
      this.local.fill(key, { negative: value === undefined, value, expiresAt }, undefined, grace, tags)
    }
    if (failure) throw failure
  }

  /** Same as `invalidate(key)`. */
  delete(key: string): Promise<void> {
    return this.invalidate(key)
  }

  /**
   * Invalidates keys everywhere: this L1 at once, L2 (a new version token per key, value deleted; the LSN, if
   * given, kept beside the token for loaders as `ctx.minLsn`), then every other instance's L1 over the bus.
   * Idempotent. Rejects with `InvalidationFailedError` when L2 or the bus did not confirm: retry it.
   */
  async invalidate(keys: string | readonly string[], options: { lsn?: string } = {}): Promise<void> {
    const list = typeof keys === 'string' ? [keys] : [...keys]
    for (const key of list) this.open(key)
    if (options.lsn !== undefined && !isLsn(options.lsn)) {
      throw new InvalidInputError(`not a pg_lsn: ${JSON.stringify(options.lsn)}`, { lsn: options.lsn })
    }
    if (list.length === 0) return
    for (const key of list) this.local.drop(key)
    if (options.lsn !== undefined) for (const key of list) this.recent.written(key, options.lsn)
    const full = list.map((key) => this.prefix + key)
    const failure = await this.spread(list, (announce) =>
      this.l2!.invalidate(full, options.lsn, this.o.fenceTtl, announce),
    )
    if (failure) throw failure
  }

  /** Invalidates every key stored with `tag` (in `getOrLoad`/`set` options), on every tier and instance. */
  async invalidateTag(tag: string): Promise<void> {
    if (this.closed) throw new ClosedError(`cache ${this.name}`)
    if (typeof tag !== 'string' || tag === '') throw new InvalidInputError('tag must be a non-empty string')
    this.local.dropTag(tag)
    const failure = await this.spread([], () => this.l2!.invalidateTag(this.tagKey(tag), this.o.fenceTtl), {
      tags: [tag],
    })
    if (failure) throw failure
  }

  /** Invalidates everything in this cache, on every tier and instance. L2 is scanned: slow on big stores. */
  async clear(): Promise<void> {
    if (this.closed) throw new ClosedError(`cache ${this.name}`)
    this.local.flush()
    const failure = await this.spread([], () => this.l2!.invalidatePrefix(this.prefix, this.o.fenceTtl), {
      all: true,
    })
    if (failure) throw failure
  }

  /** Whether this instance's L1 would serve `key` now (fresh and L1 in use). Synchronous; counts nothing. */
  hasLocal(key: string): boolean {
    const entry = this.local.on ? this.local.l1!.peek(key) : undefined
    return entry !== undefined && entry.expiresAt > Date.now()
  }

  /** Drops `key` from this instance's L1 only (a repair, or a test). */
  deleteLocal(key: string): void {
    this.local.drop(key)
  }

  /** The raw state of `key` in each tier, for checkers: nothing is loaded, counted or refreshed. */
  async inspect(key: string): Promise<Inspection<T>> {
    this.open(key)
    const result: Inspection<T> = {}
    const entry = this.local.l1?.peek(key)
    if (entry) {
      result.l1 = { value: entry.value as T, expiresAt: entry.expiresAt, staleUntil: entry.staleUntil }
      if (entry.tags) result.l1.tags = entry.tags
    }
    if (this.l2) {
      const raw = await this.l2.inspect(this.prefix + key)
      if (raw.blob || raw.token) {
        const l2: NonNullable<Inspection<T>['l2']> = {}
        if (raw.blob) {
          const envelope = decode(this.o.serializer, raw.blob)
          if (envelope.negative) l2.negative = true
          else l2.value = envelope.value as T
          l2.expiresAt = envelope.expiresAt
        }
        if (raw.token !== undefined) l2.token = raw.token
        if (raw.lsn !== undefined) l2.lsn = raw.lsn
        if (raw.ttlMs !== undefined) l2.ttlMs = raw.ttlMs
        result.l2 = l2
      }
    }
    return result
  }

  /** Counters and health as a plain JSON-able object. */
  stats(): CacheStats {
    return snapshot(this.counters, {
      name: this.name,
      instanceId: this.instanceId,
      l1Size: this.local.l1?.size ?? 0,
      l1Enabled: this.local.on,
      guard: this.guard,
      bus: this.member?.stats(),
      bypassMs: this.o.bus ? this.local.bypassedMs() : 0,
    })
  }

  /** Stops heartbeats, lets go of the tier and bus, empties L1. Later calls reject with `ClosedError`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.local.close()
    await Promise.allSettled([this.member?.close(), this.l2?.close()])
  }

  // ---- internals ----

  private miss(
    key: string,
    loader: Loader<T>,
    options: EntryOptions | undefined,
    span?: SpanRecorder,
  ): Promise<unknown> {
    try {
      this.open(key)
    } catch (error) {
      return Promise.reject(error)
    }
    if (this.local.on) this.counters.l1Misses++
    const existing = this.local.flights.get(key)
    if (existing) {
      span?.set('cache.tier', 'flight')
      return existing.promise
    }
    let entry: ParsedEntryOptions
    try {
      entry = options === undefined ? undefined : entryOptionsSchema.parse(options)
    } catch (error) {
      return Promise.reject(error)
    }
    return this.reads.start(key, loader as Loader<unknown>, entry, span) // registers the flight, and ends it
  }

  /**
   * The write half of set/invalidate/invalidateTag/clear: L2 first (so instances refilling on the bus message
   * read the new state), local L1 dropped again (a local read may have refilled from L2 in between), then the bus.
   *
   * When the tier and the bus share a server and the bus is idle, the L2 write also publishes an early copy of
   * the keys' message itself, after applying the change in the same atomic step: other instances drop their L1
   * one round trip sooner, and never before L2 is invalidated (C1, C3). The sequenced message follows as always
   * (gap detection relies on it). Under load (publishes in flight) the batched path alone is used.
   */
  private async spread(
    keys: readonly string[],
    l2Write: (announce?: Announcement) => Promise<unknown>,
    message: { tags?: string[]; all?: boolean } = {},
  ): Promise<InvalidationFailedError | undefined> {
    let failure: unknown
    let affected: readonly string[] = keys
    let early: Announcement | undefined
    if (this.l2) {
      early = this.earlyCopies(keys, message)
      if (early) this.fusing++
      try {
        const result = await this.guard.run(() => l2Write(early), 'invalidate')
        this.recent.l2Confirmed(keys)
        // A tag's keys as L2 knew them: instances that filled them from L2 do not know their tags.
        if (message.tags && Array.isArray(result)) {
          affected = result.map((full: string) => full.slice(this.prefix.length))
        }
      } catch (error) {
        this.counters.l2InvalidateErrors++
        this.recent.l2Unconfirmed(keys)
        failure = error
      } finally {
        if (early) this.fusing--
      }
    }
    if (message.all) this.local.flush()
    for (const tag of message.tags ?? []) this.local.dropTag(tag)
    for (const key of affected) this.local.drop(key)
    if (this.member) {
      // The sequenced message is the safety net once early copies went out: let the I/O already in (other
      // instances of this process hearing those copies) go first.
      if (early && failure === undefined) await new Promise(setImmediate)
      try {
        await this.member.publish(
          message.all ? message : { ...message, ...(affected.length > 0 && { keys: affected }) },
        )
      } catch (error) {
        this.counters.busErrors++
        failure ??= error
      }
    }
    return failure === undefined ? undefined : new InvalidationFailedError(this.name, keys, failure)
  }

  /** The announcement for `spread`'s L2 write, when early copies apply (see `spread`). */
  private earlyCopies(
    keys: readonly string[],
    message: { tags?: string[]; all?: boolean },
  ): Announcement | undefined {
    const early = this.early
    if (
      early === undefined ||
      message.tags !== undefined ||
      message.all ||
      keys.length === 0 ||
      keys.length > MAX_EARLY_KEYS ||
      this.fusing >= MAX_FUSING ||
      !early.idle
    ) {
      return undefined
    }
    return { channel: early.channel, payloads: keys.map((key) => early.encode({ keys: [key] })) }
  }

  private received(message: ReceivedMessage): void {
    if (message.all) {
      this.local.flush()
      return
    }
    for (const key of message.keys ?? []) this.local.drop(key)
    for (const tag of message.tags ?? []) this.local.dropTag(tag)
  }

  private open(key: string): void {
    if (this.closed) throw new ClosedError(`cache ${this.name}`)
    if (typeof key !== 'string' || key.length === 0 || key.length > 1024) throw new InvalidKeyError(key)
  }

  private jittered(ttl: number): number {
    return Math.max(1, Math.round(ttl * (1 - this.o.jitter * Math.random())))
  }

  private readonly tagKey = (tag: string): string => `${this.prefix}${tag}`

  private readonly absorb = (error: unknown): void => {
    if (error instanceof SerializationError) this.counters.serializationErrors++
    this.o.onError?.(error)
  }
}

/** Creates a cache; see `Cache` and `CacheOptions`. */
export function createCache<T>(options: CacheOptions): Cache<T> {
  return new Cache<T>(options)
}
