import type { Broker } from 'concord/broker'
import type { InvalidationBus, L2Tier } from 'concord/cache'
import type { Shards } from 'concord/db'

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
  close(): Promise<void>
}
