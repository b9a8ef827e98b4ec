import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import pg from 'pg'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdminRoutes } from '../../src/admin/index.js'
import type { Broker } from '../../src/broker/index.js'
import { type Cache, createCache, jsonSerializer } from '../../src/cache/index.js'
import {
  type Checker,
  type Comparator,
  createChecker,
  createConvergenceTracer,
} from '../../src/checker/index.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createOutbox, createRelay, outboxMigrations, type Relay } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { checkerMetrics, registerCacheMetrics, tracerMetrics } from '../../src/prometheus/index.js'
import { createRedisTier } from '../../src/redis/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'

// C8 on real servers: products on PostgreSQL (primary + streaming replica), a Redis L2, a search projection
// table. An L2 entry and a search row are corrupted behind the system's back; the checker finds both,
// repairs both, and the status endpoint and /metrics show the counts.
type Product = { id: number; name: string; price: number; stock: number; version: number }

const TOKEN = 'integration-admin-token-0123456789'
const N = 30
let shards: Shards
let cache: Cache<Product>
let redis: Redis
let sql: pg.Client
let relay: Relay
let broker: Broker
let app: FastifyInstance
let checker: Checker
let prefix: string
const registry = new Registry()
const outbox = createOutbox()
const cacheName = uniqueName('products')

const loadProduct = (id: number) =>
  shards.read(
    id,
    async (q) =>
      (await q.query<Product>('SELECT id, name, price, stock, version FROM product WHERE id = $1', [id]))
        .rows[0],
    { primary: true },
  )
const project = (p: Product) =>
  shards.withTransaction(p.id, (tx) =>
    tx.query(
      `INSERT INTO product_search (id, name, price, version) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, price = EXCLUDED.price, version = EXCLUDED.version
       WHERE product_search.version <= EXCLUDED.version`,
      [p.id, p.name, p.price, p.version],
    ),
  )
const searchRow = async (id: number) =>
  (await sql.query('SELECT id, name, price, version FROM product_search WHERE id = $1', [id])).rows[0] as
    | Omit<Product, 'stock'>
    | undefined

/** The shop's comparator for products: the primary's row vs the Redis L2 entry and the search projection. */
function productsComparator(): Comparator<Product> {
  return {
    name: 'products',
    sample: async (n) =>
      (
        await shards.read(
          0,
          (q) => q.query<{ id: number }>('SELECT id FROM product ORDER BY random() LIMIT $1', [n]),
          {
            primary: true,
          },
        )
      ).rows.map((r) => String(r.id)),
    source: async (key) => {
      const row = await loadProduct(Number(key))
      return row && { version: row.version, value: row }
    },
    copies: [
      {
        name: 'l2',
        read: async (key) => {
          const l2 = (await cache.inspect(key)).l2
          return l2?.value === undefined ? undefined : { version: l2.value.version, value: l2.value }
        },
        repair: (key) => cache.invalidate(key), // drop the entry: the next read loads the row
      },
      {
        name: 'search',
        required: true,
        fields: ['id', 'name', 'price'],
        read: async (key) => {
          const row = await shards.read(
            Number(key),
            async (q) =>
              (
                await q.query<Product>('SELECT id, name, price, version FROM product_search WHERE id = $1', [
                  Number(key),
                ])
              ).rows[0],
            { primary: true },
          )
          return row && { version: row.version, value: row }
        },
        repair: async (key, source) => {
          if (source)
            await project(source.value) // re-project from the source of truth
          else await sql.query('DELETE FROM product_search WHERE id = $1', [Number(key)])
        },
      },
    ],
  }
}

beforeAll(async () => {
  const services = sharedServices()
  const db = await services.postgres.createDatabase('checker')
  shards = createShards({
    shards: [
      {
        primary: createPgNode({ connectionString: db.primaryUrl }),
        replicas: [createPgNode({ connectionString: db.replicaUrl })],
      },
    ],
    healthInterval: '100ms',
  })
  await shards.migrate([
    ...outboxMigrations,
    {
      module: 'checker-test',
      version: 1,
      name: 'products',
      sql: `CREATE TABLE product (id int PRIMARY KEY, name text NOT NULL, price int NOT NULL, stock int NOT NULL, version int NOT NULL);
            CREATE TABLE product_search (id int PRIMARY KEY, name text NOT NULL, price int NOT NULL, version int NOT NULL);`,
    },
  ])
  sql = new pg.Client({ connectionString: db.primaryUrl })
  await sql.connect()
  prefix = `${uniqueName('chk')}:`
  redis = new Redis(services.redis.url)
  cache = createCache<Product>({
    name: cacheName,
    l2: createRedisTier({ url: services.redis.url, prefix }),
  })
  registerCacheMetrics(registry, cache)
  broker = createNatsBroker({ servers: services.nats.url, prefix: uniqueName('chk') })
  relay = createRelay({ shards, broker, listen: false })
  for (let id = 1; id <= N; id++) {
    const product = { id, name: `product ${id}`, price: id * 100, stock: 1000, version: 1 }
    await shards.withTransaction(id, async (tx) => {
      await tx.query('INSERT INTO product VALUES ($1, $2, $3, $4, $5)', [
        id,
        product.name,
        product.price,
        1000,
        1,
      ])
      await outbox.add(tx, {
        aggregateType: 'product',
        aggregateId: String(id),
        aggregateVersion: 1,
        type: 'product.created',
        payload: product,
      })
    })
    await project(product)
    await cache.getOrLoad(String(id), async () => (await loadProduct(id))!)
  }
  checker = createChecker({
    comparators: [productsComparator()],
    budget: 100,
    metrics: checkerMetrics(registry),
  })
  app = Fastify({ logger: false })
  createAdminRoutes(app, {
    token: TOKEN,
    registry,
    sources: {
      replication: () => shards.health(),
      caches: () => [cache.stats()],
      outbox: () => relay.status(),
      broker: () => broker.health(),
      checker,
    },
  })
  await shards.refreshHealth()
})

afterAll(async () => {
  await app?.close()
  await relay?.close()
  await broker?.close()
  await cache?.close()
  redis?.disconnect()
  await sql?.end()
  await shards?.close()
})

const status = async () =>
  (
    await app.inject({
      method: 'GET',
      url: '/admin/consistency/status',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
  ).json()

describe('checker on PostgreSQL + Redis', () => {
  it('finds nothing while every copy agrees', async () => {
    const report = await checker.run()
    expect(report).toMatchObject({ keys: N, checked: 2 * N, inconsistent: 0, errors: 0 })
  })

  it('finds a corrupted L2 entry and a corrupted search row, repairs both, and the status shows the counts', async () => {
    // Behind the system's back: a raw SET of the tier's value key (same envelope format, wrong price) ...
    const l2Key = `${prefix}{${cacheName}:3}:v`
    const raw = (await redis.getBuffer(l2Key))!
    expect(raw).not.toBeNull()
    const bar = raw.indexOf('|') // the envelope: kind, logical expiry, '|', then the serialised value
    const json = jsonSerializer()
    const corrupted = { ...(json.deserialize(raw, bar + 1) as Product), price: 1 }
    await redis.set(
      l2Key,
      Buffer.concat([raw.subarray(0, bar + 1), Buffer.from(json.serialize(corrupted))]),
      'KEEPTTL',
    )
    expect((await cache.inspect('3')).l2?.value?.price).toBe(1)
    // ... and an UPDATE of the projection that no event caused.
    await sql.query('UPDATE product_search SET price = 7 WHERE id = 7')

    const report = await checker.run()
    expect(report).toMatchObject({ keys: N, inconsistent: 2, repaired: 2, unrepaired: 0, errors: 0 })
    expect(report.byComparator.products?.byCopy).toEqual({
      l2: { checked: N, inconsistent: 1, repaired: 1 },
      search: { checked: N, inconsistent: 1, repaired: 1 },
    })
    expect(
      report.divergences
        .map(({ copy, key, kind, fields, repaired }) => ({ copy, key, kind, fields, repaired }))
        .sort((a, b) => a.copy.localeCompare(b.copy)),
    ).toEqual([
      { copy: 'l2', key: '3', kind: 'value', fields: ['price'], repaired: true },
      { copy: 'search', key: '7', kind: 'value', fields: ['price'], repaired: true },
    ])
    // Repaired for real: the L2 value is gone (the next read loads the row), the search row is re-projected.
    expect(await redis.exists(l2Key)).toBe(0)
    expect((await cache.getOrLoad('3', async () => (await loadProduct(3))!)).price).toBe(300)
    expect(await searchRow(7)).toEqual({ id: 7, name: 'product 7', price: 700, version: 1 })

    const s = await status()
    expect(s.lastInconsistencyCount).toBe(2)
    expect(s.checker.last).toMatchObject({ inconsistent: 2, repaired: 2 })
    expect(s.checker.totals).toMatchObject({ runs: 2, inconsistent: 2, repaired: 2 })
    expect(s.errors).toEqual({})
    expect(s.replicationLag).toHaveLength(1)
    expect(s.replicationLag[0]).toMatchObject({ shard: 0, replica: 0, healthy: true })
    expect(typeof s.replicationLag[0].lagSeconds).toBe('number')
    expect(s.outbox).toEqual([
      { shard: 0, pending: N, retrying: 0, deadLetters: 0, oldestAgeMs: expect.any(Number) },
    ])
    expect(s.pendingOutboxEvents).toBe(N)
    expect(s.caches[0]).toMatchObject({ name: cacheName, l2: { circuit: 'closed' } })
    // The only L2 reads were misses (each fill, and the reload of product 3 after its repair): a rate of 0,
    // the share the status derives from the cache's own counters.
    const { l2: tier } = cache.stats()
    expect(tier.misses).toBe(N + 1)
    expect(tier.hits).toBe(0)
    expect(s.l2HitRate).toBe(0)

    const metrics = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(metrics.body).toContain('concord_checker_inconsistent_total{comparator="products",copy="l2"} 1')
    expect(metrics.body).toContain('concord_checker_repaired_total{comparator="products",copy="search"} 1')
    expect(metrics.body).toContain(`concord_outbox_pending{shard="0"} ${N}`)
    expect(metrics.body).toMatch(/concord_replication_lag_seconds\{shard="0",replica="0"\} [\d.e-]+/)
    expect(metrics.body).toContain(`concord_cache_loads_total{cache="${cacheName}"`)

    expect(await checker.run()).toMatchObject({ inconsistent: 0, repaired: 0 })
    expect((await status()).lastInconsistencyCount).toBe(0)
  })

  it('finds an L2 entry left at an older version and a search row missing, and the outbox drains in the status', async () => {
    await shards.withTransaction(11, async (tx) => {
      await tx.query('UPDATE product SET price = 1111, version = version + 1 WHERE id = 11')
      await outbox.add(tx, {
        aggregateType: 'product',
        aggregateId: '11',
        aggregateVersion: 2,
        type: 'product.updated',
        payload: {},
      })
    })
    // The writer "died" before invalidating L2, and the search row was lost.
    await sql.query('DELETE FROM product_search WHERE id = 12')
    const report = await checker.run()
    expect(report.divergences.map((d) => `${d.copy}:${d.key}:${d.kind}:${d.repaired}`).sort()).toEqual([
      'l2:11:version:true',
      'search:11:version:true',
      'search:12:missing:true',
    ])
    expect(await searchRow(12)).toMatchObject({ id: 12, version: 1 })
    expect((await status()).pendingOutboxEvents).toBe(N + 1)
    await relay.runOnce()
    expect((await status()).pendingOutboxEvents).toBe(0)
  })
})

describe('convergence tracer on PostgreSQL + Redis', () => {
  it('times each copy reaching a write, and reports a copy that never does', async () => {
    const tracer = createConvergenceTracer({
      sampleRate: 1,
      timeout: '1500ms',
      metrics: tracerMetrics(registry),
      probes: [
        {
          path: 'l2',
          read: async (key) => (await cache.inspect(key)).l2?.value?.version,
          absentIsConverged: true,
        },
        { path: 'search', read: async (key) => (await searchRow(Number(key)))?.version },
      ],
    })
    const write = async (id: number, projectAfterMs: number | undefined) => {
      const { result } = await shards.withTransaction(id, (tx) =>
        tx.query<Product>(
          'UPDATE product SET price = price + 1, version = version + 1 WHERE id = $1 RETURNING *',
          [id],
        ),
      )
      const row = result.rows[0]!
      const trace = tracer.track(String(id), row.version, Date.now())!
      await cache.invalidate(String(id))
      if (projectAfterMs !== undefined) setTimeout(() => void project(row), projectAfterMs)
      return trace
    }
    const [fast, slow, never] = await Promise.all([write(20, 0), write(21, 300), write(22, undefined)])
    expect(fast.l2).not.toBeNull()
    expect(fast.search!).toBeLessThan(slow.search!)
    expect(slow.search).toBeGreaterThanOrEqual(0.3)
    expect(slow.search).toBeLessThan(1)
    expect(never).toMatchObject({ search: null })
    expect(tracer.violations()).toEqual([
      expect.objectContaining({ key: '22', path: 'search', lastSeen: '1' }),
    ])
    // 6 (write, path) pairs, one never converged; the rest within 1 s unless the machine is very busy
    expect(tracer.convergedWithin1sShare).toBeLessThanOrEqual(5 / 6)
    expect(tracer.convergedWithin1sShare).toBeGreaterThan(0)
    const text = await registry.metrics()
    expect(text).toContain('concord_convergence_seconds_count{path="search"} 2')
    expect(text).toContain('concord_convergence_violations_total{path="search"} 1')
    tracer.close()
  })
})
