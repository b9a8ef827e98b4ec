import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Broker } from '../../src/broker/index.js'
import { type Cache, createCache } from '../../src/cache/index.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createInvalidator, createRelay, outboxMigrations } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { createRedisTier } from '../../src/redis/index.js'
import { spawnOutboxChild } from '../support/outbox-spawn.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// The two layers of invalidation (C2): a writer killed between its commit and its synchronous invalidation
// leaves the cache stale only until the relay publishes the durable invalidation record, not until the TTL.
let shards: Shards
let broker: Broker
let cache: Cache<unknown>
let url: string
const cacheName = uniqueName('obcache')
const cachePrefix = `${uniqueName('obw')}:`

beforeAll(async () => {
  url = (await sharedServices().postgres.createDatabase('outbox_writer_kill')).primaryUrl
  shards = createShards({ shards: [{ primary: createPgNode({ connectionString: url, max: 4 }) }] })
  await shards.migrate(outboxMigrations)
  await shards.onShard(0, async (tx) => {
    await tx.query('CREATE TABLE products (id text PRIMARY KEY, name text NOT NULL, version int NOT NULL)')
    await tx.query(`INSERT INTO products VALUES ('p1', 'old', 1)`)
  })
  broker = createNatsBroker({ servers: sharedServices().nats.url, prefix: uniqueName('obw') })
  cache = createCache<unknown>({
    name: cacheName,
    l1: false,
    ttl: '1h',
    l2: createRedisTier({ url: sharedServices().redis.url, prefix: cachePrefix }),
  })
})
afterAll(async () => {
  await cache?.close()
  await broker?.close()
  await shards?.close()
})

it('heals the cache through the relay when the writer dies between commit and invalidation', async () => {
  await cache.set('p1', { name: 'old', version: 1 })
  const { child, killed } = await spawnOutboxChild(
    'writer',
    {
      OUTBOX_PG_URL: url,
      OUTBOX_REDIS_URL: sharedServices().redis.url,
      OUTBOX_CACHE_NAME: cacheName,
      OUTBOX_CACHE_PREFIX: cachePrefix,
    },
    /^committed$/,
  )
  child.kill('SIGKILL')
  await killed

  // Committed, and not invalidated: the cache serves the old value, and would until the 1 h TTL.
  const row = await shards.read(
    'p1',
    (q) => q.query<{ name: string }>(`SELECT name FROM products WHERE id = 'p1'`),
    {
      primary: true,
    },
  )
  expect(row.rows[0]!.name).toBe('new')
  expect(await cache.get('p1')).toEqual({ name: 'old', version: 1 })

  const invalidator = createInvalidator({ broker, caches: { products: cache } })
  await invalidator.start()
  const relay = createRelay({ shards, broker, pollInterval: 100 })
  const started = Date.now()
  await relay.start()
  await waitFor(async () => (await cache.get('p1')) === undefined, {
    timeoutMs: 10_000,
    what: 'cache healed',
  })
  const healedMs = Date.now() - started
  await relay.close()
  await invalidator.close()
  expect(invalidator.applied()).toBe(1)
  expect(healedMs).toBeLessThan(5_000)
})
