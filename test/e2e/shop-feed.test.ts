import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { launchReal, type RealShop } from '../../examples/shop/real/launch.js'
import { type Copies, lookAtCopies, traceConvergence } from '../../scripts/verify/probes.js'
import { realShopBackdoor, type ShopBackdoor } from '../support/shop-backdoor.js'
import { CROSS_INSTANCE_BOUND_MS, PROJECTION_BOUND_MS } from '../support/shop-suite.js'
import { waitFor } from '../support/wait.js'

// The real shop twice on the same servers: without the WAL change feed a price changed with plain SQL on a shard
// primary (outside the shop) stays stale in every copy past the bounds; with it, every copy converges within them.
// The feed is what heals.

const copiesOf = (shop: RealShop): Copies => ({
  urls: shop.urls,
  productInstances: ['product-1', 'product-2'],
  orderInstances: ['order-1', 'order-2'],
  searchInstances: ['search-1', 'search-2'],
})

/** Plain SQL on whichever primary holds the row, bumping the version as the shop does; the new version. */
async function foreignWrite(primaries: string[], id: number, price: number): Promise<number> {
  const versions = await Promise.all(
    primaries.map(async (url) => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      try {
        const { rows } = await client.query<{ version: number }>(
          'UPDATE products SET price = $2, version = version + 1 WHERE id = $1 RETURNING version',
          [id, price],
        )
        return rows[0]?.version
      } finally {
        await client.end()
      }
    }),
  )
  const found = versions.filter((v): v is number => v !== undefined)
  expect(found).toHaveLength(1)
  return found[0]!
}

/** Reads product `id` through each product instance until each answers from its L1. */
async function warm(shop: RealShop, id: number): Promise<void> {
  for (const instance of ['product-1', 'product-2']) {
    await waitFor(
      async () => {
        const r = await fetch(`${shop.baseUrl}/products/${id}`, { headers: { 'x-instance': instance } })
        await r.text()
        return r.headers.get('x-concord-source') === 'l1'
      },
      { timeoutMs: 15_000, intervalMs: 50, what: `an L1 hit for product ${id} on ${instance}` },
    )
  }
  // Search holds the seeded product (its ProductCreated event went through the relay).
  await waitFor(async () => (await lookAtCopies(copiesOf(shop), id, 1)).get('search')?.ok, {
    timeoutMs: 15_000,
    what: `search row of product ${id}`,
  })
}

const CACHE_PATHS = ['product-1:l1', 'product-2:l1', 'l2']

describe('the WAL change feed heals writes made outside the shop (real mode)', () => {
  let backdoor: ShopBackdoor
  let primaries: string[]
  const launch = (changeFeed: boolean) =>
    launchReal(
      {
        port: 0,
        instances: 2,
        seed: true,
        adminToken: 'feed-test-admin-token',
        selfCheck: false,
        changeFeed,
      },
      backdoor.env as never,
    )

  beforeAll(async () => {
    backdoor = await realShopBackdoor()
    primaries = backdoor.env.SHOP_SHARDS!.split(';').map((entry) => entry.split(',')[0]!)
  }, 60_000)
  afterAll(async () => {
    await backdoor?.close()
  })

  it('with SHOP_CHANGE_FEED=off: the plain-SQL write stays stale in L1, L2 and search past the bounds', async () => {
    const shop = await launch(false)
    try {
      const id = 11
      await warm(shop, id)
      const version = await foreignWrite(primaries, id, 77.7)
      const written = performance.now()
      // Past both bounds (and the bus and relay delays that would have healed an application write), every copy
      // still holds the old version: nothing told them.
      let look = await lookAtCopies(copiesOf(shop), id, version)
      while (performance.now() - written < PROJECTION_BOUND_MS + 500)
        look = await lookAtCopies(copiesOf(shop), id, version)
      for (const path of [...CACHE_PATHS, 'search'])
        expect({ path, ok: look.get(path)?.ok }).toEqual({ path, ok: false })
    } finally {
      await shop.close()
    }
  }, 80_000)

  it('with the feed (product-1 runs one per shard primary): every copy converges within the bounds', async () => {
    const shop = await launch(true)
    try {
      const id = 12
      await warm(shop, id)
      const version = await foreignWrite(primaries, id, 88.8)
      const paths = await traceConvergence(copiesOf(shop), id, version, performance.now(), 15_000)
      expect(paths).toBeDefined()
      for (const path of CACHE_PATHS)
        expect({ path, ms: paths![path] }).toEqual({ path, ms: expect.any(Number) })
      for (const path of CACHE_PATHS) expect(paths![path]!).toBeLessThanOrEqual(CROSS_INSTANCE_BOUND_MS)
      expect(paths!.search).toBeLessThanOrEqual(PROJECTION_BOUND_MS)
    } finally {
      await shop.close()
    }
  }, 80_000)
})
