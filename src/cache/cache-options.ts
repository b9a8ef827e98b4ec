import { z } from 'zod'
import type { InvalidationBus } from '../bus/kit.js'
import { type Duration, duration } from '../options.js'
import { jsonSerializer, type Serializer } from './serializer.js'
import type { L2Tier } from './tier.js'

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/** Options of `createCache`; every default is stated here and nowhere else. */
export const cacheOptionsSchema = z.object({
  /** Namespace of the cache: prefixes its keys in L2 and names its bus channel. Letters, digits, `._-`. */
  name: z.string().regex(/^[\w.-]{1,100}$/, 'letters, digits, . _ - (1-100)'),
  /** This process's identity on the bus and in stats. @default `${hostname}-${pid}-${random}` */
  instanceId: z.string().min(1).optional(),
  /** In-process LRU, or `false` for none. @default { maxEntries: 10_000, ttl: same as `ttl` } */
  l1: z
    .union([
      z.literal(false),
      z.object({ maxEntries: z.number().int().positive().default(10_000), ttl: duration.optional() }),
    ])
    .default({ maxEntries: 10_000 }),
  /** The shared tier (`createRedisTier(...)` or `createMemoryTier()`); none means L1 only. */
  l2: z.custom<L2Tier>((v) => isObject(v) && typeof v.acquire === 'function', 'an L2 tier').optional(),
  /** Cross-instance invalidation (`createRedisBus(...)` or `createMemoryBus()`); none means a single instance. */
  bus: z.custom<InvalidationBus>((v) => isObject(v) && typeof v.connect === 'function', 'a bus').optional(),
  /** Freshness of a value. @default '5m' */
  ttl: duration.default(300_000),
  /** Each TTL is shortened by up to this fraction at random, so keys filled together do not expire together. @default 0.1 */
  jitter: z.number().min(0).max(1).default(0.1),
  /** How long past its TTL a value is kept to serve when the loader fails (stale-if-error). @default 0 */
  grace: duration.default(0),
  /** When set, a loader result of `undefined` is cached this long (negative caching). @default off */
  negativeTtl: duration.optional(),
  /** `'json'` (keeps Date and BigInt), or a Serializer (`msgpackSerializer()` of concord/msgpack). @default 'json' */
  serializer: z
    .union([
      z.literal('json'),
      z.custom<Serializer>((v) => isObject(v) && typeof v.serialize === 'function', 'a serializer'),
    ])
    .default('json')
    .transform((s) => (s === 'json' ? jsonSerializer() : s)),
  /** Bound on every L2 call. @default '250ms' */
  l2Timeout: duration.default(250),
  /** Circuit breaker: consecutive L2 failures that open it, and how long it stays open. @default 5, '2s' */
  breaker: z
    .object({ failures: z.number().int().positive().default(5), resetAfter: duration.default(2000) })
    .default({ failures: 5, resetAfter: 2000 }),
  /**
   * Cross-instance single flight: the lease's lifetime (longer than a load), and how long other instances wait for
   * the holder's value before loading themselves. @default { ttl: '10s', wait: '3s' }
   */
  lease: z
    .object({ ttl: duration.default(10_000), wait: duration.default(3000) })
    .default({ ttl: 10_000, wait: 3000 }),
  /** Lifetime of a version token (and its LSN) after an invalidation. @default '10m' */
  fenceTtl: duration.default(600_000),
  /** Aborts (`ctx.signal`) and abandons a load running longer than this. @default none */
  loadTimeout: duration.optional(),
  /** Called with every cache fault that was absorbed (L2 errors, bus errors, bad entries), for logging. */
  onError: z.custom<(error: unknown) => void>((v) => typeof v === 'function').optional(),
})

/** Options of `createCache`; validated once, defaults as marked. */
export interface CacheOptions {
  /** Namespace of the cache: prefixes its keys in L2 and names its bus channel. Letters, digits, `._-`. */
  name: string
  /** This process's identity on the bus and in stats. @default `${hostname}-${pid}-${random}` */
  instanceId?: string
  /** In-process LRU, or `false` for none. @default { maxEntries: 10_000, ttl: same as `ttl` } */
  l1?: false | { maxEntries?: number; ttl?: Duration }
  /** The shared tier (`createRedisTier(...)` or `createMemoryTier()`); none means L1 only. */
  l2?: L2Tier
  /** Cross-instance invalidation (`createRedisBus(...)` or `createMemoryBus()`); none means a single instance. */
  bus?: InvalidationBus
  /** Freshness of a value. @default '5m' */
  ttl?: Duration
  /** Each TTL is shortened by up to this fraction at random, so keys filled together do not expire together. @default 0.1 */
  jitter?: number
  /** How long past its TTL a value is kept to serve when the loader fails (stale-if-error). @default 0 */
  grace?: Duration
  /** When set, a loader result of `undefined` is cached this long (negative caching). @default off */
  negativeTtl?: Duration
  /** `'json'` (keeps Date and BigInt), or a Serializer (`msgpackSerializer()` of concord/msgpack). @default 'json' */
  serializer?: 'json' | Serializer
  /** Bound on every L2 call. @default '250ms' */
  l2Timeout?: Duration
  /** Circuit breaker: consecutive L2 failures that open it, and how long it stays open. @default 5, '2s' */
  breaker?: { failures?: number; resetAfter?: Duration }
  /**
   * Cross-instance single flight: the lease's lifetime (longer than a load), and how long other instances wait for
   * the holder's value before loading themselves. @default { ttl: '10s', wait: '3s' }
   */
  lease?: { ttl?: Duration; wait?: Duration }
  /** Lifetime of a version token (and its LSN) after an invalidation. @default '10m' */
  fenceTtl?: Duration
  /** Aborts (`ctx.signal`) and abandons a load running longer than this. @default none */
  loadTimeout?: Duration
  /** Called with every cache fault that was absorbed (L2 errors, bus errors, bad entries), for logging. */
  onError?: (error: unknown) => void
}
export type ParsedCacheOptions = z.output<typeof cacheOptionsSchema>

/** Per-call overrides of `getOrLoad` / `set`. */
export interface EntryOptions {
  /** Freshness of this value (see the cache's `ttl`). */
  ttl?: number | string
  /** Tags to invalidate this key by (`invalidateTag`). */
  tags?: readonly string[]
  /** Stale-if-error window for this value. */
  grace?: number | string
  /** Cache an `undefined` result this long. */
  negativeTtl?: number | string
}

export const entryOptionsSchema = z
  .object({
    ttl: duration.optional(),
    tags: z.array(z.string().min(1)).optional(),
    grace: duration.optional(),
    negativeTtl: duration.optional(),
  })
  .optional()
