import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Directory, ServiceClient } from '../../examples/shop/gateway/directory.js'
import type { Request, Transport } from '../../examples/shop/gateway/transport.js'
import {
  loadProductInfo,
  type ProductInfo,
  productChanged,
} from '../../examples/shop/services/order/product-info.js'
import { newEventId } from '../../src/broker/index.js'
import { type Cache, createCache } from '../../src/cache/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// The order service's copy of a product converges on the version a ProductUpdated event announced (C7), even
// when the product service's own cache still answers the version before it: a fill after the event's
// invalidation must not store that older version (it would stay until the 10-minute TTL).
const prefix = `${uniqueName('orderinfo')}:`
const caches: Cache<ProductInfo | undefined>[] = []
let primary = { id: 7, name: 'lamp', price: 10, stock: 5, version: 1 }
let cached = primary // what the product service's cache answers
const calls: string[] = []

const transport: Transport = {
  async request(_instance, request: Request) {
    calls.push(request.url)
    if (request.url === '/products/7') return { status: 200, body: cached }
    if (request.url === '/internal/products/7/source') return { status: 200, body: primary }
    return { status: 404, body: {} }
  },
}
const products = new ServiceClient('product', Directory.of(2), transport)

function orderCache(instanceId: string): Cache<ProductInfo | undefined> {
  const cache = createCache<ProductInfo | undefined>({
    name: 'order-products',
    instanceId,
    l1: { maxEntries: 100, ttl: '1m' },
    l2: createRedisTier({ url: sharedServices().redis.url, prefix }),
    bus: createRedisBus({ url: sharedServices().redis.url, prefix: `${prefix}bus:` }),
    ttl: '10m',
  })
  caches.push(cache)
  return cache
}

let order1: Cache<ProductInfo | undefined>
let order2: Cache<ProductInfo | undefined>
beforeAll(async () => {
  order1 = orderCache('order-1')
  order2 = orderCache('order-2')
  await waitFor(() => order1.stats().bus.healthy && order2.stats().bus.healthy, { what: 'buses healthy' })
})
afterAll(async () => {
  await Promise.all(caches.map((c) => c.close()))
})

describe('the order service product cache (C7)', () => {
  it('never stores a version older than the one an event announced, on any order instance', async () => {
    expect(await loadProductInfo(order1, products, 7)).toMatchObject({ version: 1 })
    expect(await loadProductInfo(order2, products, 7)).toMatchObject({ version: 1 })

    // Version 2 commits; the product service's cache still answers version 1 (its invalidation is late).
    primary = { ...primary, price: 12, version: 2 }
    await productChanged(order1, {
      id: newEventId(),
      aggregateType: 'product',
      aggregateId: '7',
      aggregateVersion: 2,
      type: 'ProductUpdated',
      payload: primary,
      headers: { 'concord-lsn': '0/3000060' },
      createdAt: new Date().toISOString(),
    })
    calls.length = 0
    // order-2 hears of the invalidation over the bus; its next read misses L1 and L2 and fills.
    await waitFor(async () => (await order2.inspect('product:7')).l1 === undefined, {
      what: 'order-2 L1 dropped',
    })
    expect(await loadProductInfo(order2, products, 7)).toMatchObject({ version: 2, price: 12 })
    expect(await loadProductInfo(order1, products, 7)).toMatchObject({ version: 2, price: 12 })
    expect(calls).toEqual(['/internal/products/7/source'])

    // Once the product service's cache has caught up, nothing brings version 1 back.
    cached = primary
    expect(await loadProductInfo(order1, products, 7)).toMatchObject({ version: 2 })
  })
})
