import { z } from 'zod'
import type { SubscribeOptions, Subscription } from '../broker/kit.js'
import { parseOptions } from '../options.js'
import type { InvalidationBroker } from './ports.js'
import { INVALIDATION_TOPIC, INVALIDATION_TYPE } from './writer.js'

/** What the invalidator needs from a cache: concord/cache's `invalidate(keys, { lsn })`. */
export interface InvalidationCache {
  /** Drops `keys` everywhere, fencing fills from replicas behind `lsn`. */
  invalidate(keys: string[], opts?: { lsn?: string }): Promise<unknown>
}

export const schema = z.object({
  broker: z.custom<InvalidationBroker>(
    (v) => typeof (v as InvalidationBroker)?.subscribe === 'function',
    'a Broker',
  ),
  /** The caches by the names writers give `addInvalidation`. */
  caches: z.record(
    z.string(),
    z.custom<InvalidationCache>((v) => typeof (v as InvalidationCache)?.invalidate === 'function', 'a cache'),
  ),
  /** @default 'concord-invalidations' */
  topic: z.string().min(1).default(INVALIDATION_TOPIC),
  /**
   * The subscriber group. Caches shared by every instance (L2, and L1 through the bus) need one group, so each
   * record is applied once. @default 'concord-invalidator'
   */
  group: z.string().min(1).default('concord-invalidator'),
  /**
   * Subscriber options. By default a record is retried until its cache confirms it (no delivery limit), with a
   * backoff of at most 2 s: a record given up on would leave L2 (and every L1 refilling from it) stale until the
   * TTL. @default { maxDeliveries: unlimited, backoff: 100ms to 2s }
   */
  subscribe: z.custom<SubscribeOptions>((v) => typeof v === 'object' && v !== null).optional(),
  /** Records naming a cache not in `caches`. @default console.warn */
  onUnknownCache: z.custom<(cache: string) => void>((v) => typeof v === 'function').optional(),
})

/** Options of `createInvalidator`. */
export interface InvalidatorOptions {
  broker: InvalidationBroker
  /** The caches by the names writers give `addInvalidation`. */
  caches: Record<string, InvalidationCache>
  /** @default 'concord-invalidations' */
  topic?: string
  /**
   * The subscriber group. Caches shared by every instance (L2, and L1 through the bus) need one group, so each
   * record is applied once. @default 'concord-invalidator'
   */
  group?: string
  /**
   * Subscriber options. By default a record is retried until its cache confirms it (no delivery limit), with a
   * backoff of at most 2 s: a record given up on would leave L2 (and every L1 refilling from it) stale until the
   * TTL. @default { maxDeliveries: unlimited, backoff: 100ms to 2s }
   */
  subscribe?: SubscribeOptions
  /** Records naming a cache not in `caches`. @default console.warn */
  onUnknownCache?: (cache: string) => void
}

/**
 * An invalidation fails only while its cache's L2 or bus cannot confirm it (Redis slow or down, the circuit open):
 * the record is retried until that passes, however long, never dead-lettered after a few tries.
 */
const RETRY_UNTIL_APPLIED: SubscribeOptions = {
  maxDeliveries: Number.MAX_SAFE_INTEGER,
  backoff: { initial: 100, max: 2_000 },
}

/** Errors that say the record itself can never apply (a bad key or LSN): retrying would not help. */
const NEVER_APPLIES = new Set(['E_INVALID_INPUT', 'E_CACHE_INVALID_KEY'])

/** Applies the durable invalidation records relays publish: heals a writer that died between commit and invalidate. */
export interface Invalidator {
  /** Subscribes; resolves once the subscription is registered. */
  start(): Promise<void>
  /** Records applied since start. */
  applied(): number
  /** Unsubscribes, letting records in flight finish. */
  close(): Promise<void>
}

/**
 * The second, durable layer of invalidation: applies the records writers added with `outbox.addInvalidation`,
 * as the relay publishes them, with the relay's claim LSN (at or past the writer's commit), so a fill after it
 * reads a replica that has the change. A writer that died between its commit and its own invalidation leaves a
 * cache stale only until the relay catches up, not until the TTL.
 */
export function createInvalidator(options: InvalidatorOptions): Invalidator {
  const o = parseOptions('createInvalidator', schema, options)
  const onUnknown =
    o.onUnknownCache ?? ((cache) => console.warn(`concord invalidator: unknown cache ${cache}`))
  const onBadRecord = (cache: string, error: unknown) =>
    console.warn(
      `concord invalidator: a record for cache ${cache} can never apply: ${(error as Error).message}`,
    )
  let subscription: Subscription | undefined
  let applied = 0
  return {
    async start() {
      if (subscription) return
      subscription = await o.broker.subscribe(
        o.topic,
        o.group,
        async (event) => {
          if (event.type !== INVALIDATION_TYPE) return
          const { cache, keys } = (event.payload ?? {}) as { cache?: unknown; keys?: unknown }
          if (typeof cache !== 'string' || !Array.isArray(keys)) return
          const target = o.caches[cache]
          if (!target) return onUnknown(cache)
          const lsn = event.headers['concord-lsn']
          try {
            await target.invalidate(
              keys.filter((k): k is string => typeof k === 'string'),
              lsn ? { lsn } : {},
            )
          } catch (error) {
            // Throwing makes the broker deliver the record again after its backoff (see RETRY_UNTIL_APPLIED).
            if (!NEVER_APPLIES.has((error as { code?: unknown })?.code as string)) throw error
            return onBadRecord(cache, error)
          }
          applied++
        },
        { ...RETRY_UNTIL_APPLIED, ...o.subscribe },
      )
    },
    applied: () => applied,
    async close() {
      await subscription?.close()
      subscription = undefined
    },
  }
}
