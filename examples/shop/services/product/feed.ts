import type { FeedTableMapping, RowChange } from 'concord/outbox'
import type { Product } from '../../schema.js'
import { PRODUCT_CACHE, type ProductEvent, productKey } from './service.js'

const EVENT_TYPE: Record<RowChange['op'], ProductEvent> = {
  insert: 'ProductCreated',
  update: 'ProductUpdated',
  delete: 'ProductDeleted',
}

/**
 * How the WAL change feed maps the shop's tables (real mode): a products row, changed by any writer, drops
 * its entry in the product cache (every instance's L1 hears it on the bus, L2 too) and becomes a product
 * event, which the order service (its product-info cache, through its inbox) and search (its projection,
 * version-guarded) already consume. The event duplicates the writer's own ProductUpdated for writes made
 * through the shop: both consumers take a duplicate as a no-op (an invalidation; an older-or-equal version).
 * A delete carries only the id (replica identity), so it invalidates but publishes nothing: search's
 * tombstone needs the row, which the shop's own deletes publish. Members and orders have no cache and no
 * projection in the shop, so they are not mapped.
 */
export const productFeedTables: Record<string, FeedTableMapping> = {
  products: {
    cache: PRODUCT_CACHE,
    keys: (row) => [productKey(Number(row.id))],
    events: (change) => {
      if (change.op === 'delete') return []
      const row = change.row
      const product: Product = {
        id: Number(row.id),
        name: String(row.name),
        price: Number(row.price),
        stock: Number(row.stock),
        version: Number(row.version),
      }
      return [
        {
          aggregateType: 'product',
          aggregateId: String(product.id),
          aggregateVersion: product.version,
          type: EVENT_TYPE[change.op],
          payload: product,
        },
      ]
    },
  },
}
