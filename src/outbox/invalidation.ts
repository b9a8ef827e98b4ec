import { z } from 'zod'
import type { SubscribeOptions, Subscription } from '../broker/kit.js'
import { parseOptions } from '../options.js'
import type { InvalidationBroker } from './ports.js'
import { INVALIDATION_TOPIC, INVALIDATION_TYPE } from './writer.js'

/** What the invalidator needs from a cache: concord/cache's `invalidate(keys, { lsn })`. */
export interface InvalidationCache {
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
  subscribe: z.custom<SubscribeOptions>((v) => typeof v === 'object' && v !== null).optional(),
  /** Records naming a cache not in `caches`. @default console.warn */
  onUnknownCache: z.custom<(cache: string) => void>((v) => typeof v === 'function').optional(),
})

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
  subscribe?: SubscribeOptions
  /** Records naming a cache not in `caches`. @default console.warn */
  onUnknownCache?: (cache: string) => void
}

export interface Invalidator {
  /** Subscribes; resolves once the subscription is registered. */
  start(): Promise<void>
  /** Records applied since start. */
  applied(): number
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
          await target.invalidate(
            keys.filter((k): k is string => typeof k === 'string'),
            lsn ? { lsn } : {},
          )
          applied++
        },
        o.subscribe,
      )
    },
    applied: () => applied,
    async close() {
      await subscription?.close()
      subscription = undefined
    },
  }
}
