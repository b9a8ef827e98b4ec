import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache/index.js'
import { createShards, type ReadRoute, type Shards } from '../../src/db/index.js'
import { createMemoryBus, createMemoryTier } from '../../src/memory/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import { type PostgresServer, sharedServices, startPostgres, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// C4 end to end: instance A writes and invalidates with the commit LSN; instance B's cache fill loads
// through db.read with ctx.minLsn. Pausing replay is a fault, so this file has its own primary + replica.
let server: PostgresServer
let urls: { primaryUrl: string; replicaUrl: string }

beforeAll(async () => {
  server = await startPostgres({ replica: true })
  const db = await server.createDatabase('db_c4')
  urls = { primaryUrl: db.primaryUrl, replicaUrl: db.replicaUrl! }
  const setup = instanceShards()
  await setup.onShard(0, (tx) => tx.query('CREATE TABLE product (id int PRIMARY KEY, price int NOT NULL)'))
  await setup.close()
})
afterAll(async () => {
  await server?.resumeReplay().catch(() => {})
  await server?.close()
})

/** One service instance's view of the database: its own pools, as a separate process would have. */
function instanceShards(): Shards {
  return createShards({
    shards: [
      {
        primary: createPgNode({ connectionString: urls.primaryUrl }),
        replicas: [createPgNode({ connectionString: urls.replicaUrl })],
      },
    ],
    maxLag: { bytes: 1 << 30, seconds: 600 }, // keep the paused replica in routing
    healthInterval: '100ms',
  })
}

const tiers = {
  'memory L2 + memory bus': () => ({ l2: createMemoryTier(), bus: createMemoryBus() }),
  'redis L2 + redis bus': () => {
    const { url } = sharedServices().redis
    const prefix = `${uniqueName('c4')}:`
    return { l2: createRedisTier({ url, prefix }), bus: createRedisBus({ url, prefix }) }
  },
}

describe.each(Object.entries(tiers))('C4 replica-safe fills with %s', (label, makeShared) => {
  const id = label.startsWith('memory') ? 1 : 2
  const key = `product:${id}`
  let dbA: Shards
  let dbB: Shards
  let cacheA: Cache<number>
  let cacheB: Cache<number>
  // Every fill B's loader made: the LSN it was given, where it read, what it got.
  const fills: { minLsn: string | undefined; route?: ReadRoute; price?: number }[] = []

  const setPrice = (price: number) =>
    dbA.withTransaction(id, (tx) =>
      tx.query(
        'INSERT INTO product (id, price) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET price = EXCLUDED.price',
        [id, price],
      ),
    )
  // Instance B's loader: the fill reads at the invalidation's LSN.
  const loadOnB = () =>
    cacheB.getOrLoad(key, async (ctx) => {
      const fill: (typeof fills)[number] = { minLsn: ctx.minLsn }
      fills.push(fill)
      fill.price = await dbB.read(
        id,
        async (q) =>
          (await q.query<{ price: number }>('SELECT price FROM product WHERE id = $1', [id])).rows[0]!.price,
        {
          minLsn: ctx.minLsn,
          onRoute: (route) => {
            fill.route = route
          },
        },
      )
      return fill.price
    })
  // B's L1 may serve the old value until the bus tells it (C2's bound, not C4's concern); every fill it
  // makes after the invalidation must load the new value.
  const untilBServes = (price: number) =>
    waitFor(async () => (await loadOnB()) === price, {
      what: `instance B to serve ${price}`,
      timeoutMs: 5000,
    })

  beforeAll(async () => {
    const shared = makeShared()
    const name = uniqueName('c4cache')
    dbA = instanceShards()
    dbB = instanceShards()
    cacheA = createCache<number>({ name, instanceId: 'a', ...shared })
    cacheB = createCache<number>({ name, instanceId: 'b', ...shared })
  })
  afterAll(async () => {
    await cacheA?.close()
    await cacheB?.close()
    await dbA?.close()
    await dbB?.close()
  })

  it('never fills the old value from a replica that has not replayed the write, and goes back to it after', async () => {
    await setPrice(100)
    await server.waitForReplica()
    await waitFor(() => dbB.health()[0]?.healthy, { what: 'a healthy replica' })
    expect(await loadOnB()).toBe(100)

    await server.pauseReplay()
    try {
      const { lsn } = await setPrice(200)
      await cacheA.invalidate(key, { lsn })
      // The paused replica still has the old row: a fill that ignored the LSN would cache 100.
      expect(
        await dbB.read(
          id,
          async (q) => (await q.query('SELECT price FROM product WHERE id = $1', [id])).rows[0],
        ),
      ).toEqual({ price: 100 })

      fills.length = 0
      await untilBServes(200)
      expect(fills.length).toBeGreaterThan(0)
      for (const fill of fills) {
        expect(fill).toMatchObject({
          minLsn: lsn,
          price: 200,
          route: { node: 'primary', reason: 'replica-behind' },
        })
      }
      expect(await cacheB.get(key)).toBe(200)
      expect(await cacheA.getOrLoad(key, () => -1)).toBe(200)
    } finally {
      await server.resumeReplay()
    }

    await server.waitForReplica()
    const { lsn } = await setPrice(300)
    await server.waitForReplica()
    fills.length = 0
    await cacheA.invalidate(key, { lsn })
    await untilBServes(300)
    expect(fills.length).toBeGreaterThan(0)
    for (const fill of fills) {
      expect(fill).toMatchObject({
        minLsn: lsn,
        price: 300,
        route: { node: 'replica', reason: 'replica-caught-up' },
      })
    }
  })
})
