import type { EventEnvelope } from 'concord/broker'
import type { Cache } from 'concord/cache'
import type { ServiceClient } from '../../gateway/directory.js'
import type { Product } from '../../schema.js'

/** What the order service keeps of a product: enough to price an order. */
export type ProductInfo = Pick<Product, 'id' | 'name' | 'price' | 'version'>

export const productInfoKey = (id: number) => `product:${id}`

/**
 * A product event reached this service (through its inbox): drop the product's info, recording the event's
 * commit LSN (the relay's `concord-lsn`, at or past the commit) beside the key's new version token in L2, so
 * every order instance's next fill of it knows a change was announced (C7).
 */
export function productChanged(cache: Cache<ProductInfo | undefined>, event: EventEnvelope): Promise<void> {
  const lsn = event.headers['concord-lsn']
  return cache.invalidate(productInfoKey(Number(event.aggregateId)), lsn ? { lsn } : {})
}

/**
 * The product's info from the order service's cache; a miss asks the product service. A fill after an event
 * (`ctx.minLsn` set) reads the product's row on the primary: the product service's own cache (L1 on each of its
 * instances, L2) may still hold the version before the event for the bus delay, or longer when its L2 missed an
 * invalidation, and a fill that stored that version after the event's invalidation would keep it until the TTL.
 */
export function loadProductInfo(
  cache: Cache<ProductInfo | undefined>,
  products: ServiceClient,
  id: number,
): Promise<ProductInfo | undefined> {
  return cache.getOrLoad(productInfoKey(id), async (ctx) => {
    const url = ctx.minLsn === undefined ? `/products/${id}` : `/internal/products/${id}/source`
    const { status, body } = await products.call<Product>('GET', url)
    if (status === 404) return undefined
    if (status !== 200) throw new Error(`product service answered ${status}`)
    return { id: body.id, name: body.name, price: body.price, version: body.version }
  })
}
