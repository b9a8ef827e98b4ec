import type { Broker } from 'concord/broker'
import type { InvalidationBus, L2Tier } from 'concord/cache'
import type { Shards } from 'concord/db'
import type { FeedCache, FeedTableMapping } from 'concord/outbox'

/**
 * What the shop's services stand on. The embedded platform and the real one give the same shape, so the
 * services do not know which they run on.
 */
export interface Infra {
  readonly kind: 'embedded' | 'real'
  /** Products, members and orders, sharded by id: three shards, each a primary with its replicas. */
  readonly shards: Shards
  /** The search service's own database. */
  readonly search: Shards
  /** The shared L2 tier and the invalidation bus every cache of this process uses. */
  readonly l2: L2Tier
  readonly bus: InvalidationBus
  readonly broker: Broker
  /**
   * Real mode only (PGlite has no logical decoding): one WAL change feed per shard primary, each on its own
   * slot, applying `tables` to `caches` and publishing mapped events on this broker. Absent when the feed is
   * off (`SHOP_CHANGE_FEED=off`).
   */
  readonly changeFeeds?: (spec: {
    tables: Record<string, FeedTableMapping>
    caches: Record<string, FeedCache>
    onError?: (error: unknown) => void
  }) => ShardFeed[]
  close(): Promise<void>
}

/** One shard primary's change feed, as the instance running it needs it. */
export interface ShardFeed {
  start(): Promise<void>
  close(): Promise<void>
}
