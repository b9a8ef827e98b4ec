import { type CacheStatsLike, createAdminRoutes, dashboardUrl } from 'concord/admin'
import {
  type Comparator,
  type Copy,
  createChecker,
  createConvergenceTracer,
  type Probe,
} from 'concord/checker'
import { createOutboxAdmin } from 'concord/outbox'
import { checkerMetrics, tracerMetrics } from 'concord/prometheus'
import { createSagaAdmin, createSqlSagaLog, sagaSqlFromShards } from 'concord/saga'
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import type { Directory } from './gateway/directory.js'
import type { Transport } from './gateway/transport.js'
import type { Infra } from './platform/infra.js'
import type { Product } from './schema.js'

interface Versioned {
  version?: number
}
type Probed = { l1?: { value?: Versioned }; l2?: { value?: Versioned } }

/**
 * The shop's operations side, in the gateway's process: the status API, metrics and dashboard
 * (concord/admin), a consistency checker over every copy of a product, and a convergence tracer that follows
 * sampled product writes to each copy. Instances are reached through their internal routes, so this works
 * the same with every instance in this process or each in its own.
 */
export function mountAdmin(
  app: FastifyInstance,
  options: {
    infra: Infra
    directory: Directory
    transport: Transport
    token: string
    registry: Registry
    /**
     * Run the checker on its schedule (it repairs) and trace sampled writes. verify turns this off: it measures
     * the shop as it is, and repairs or probe load from here would change what it measures. @default true
     */
    selfCheck?: boolean
  },
) {
  const { infra, directory, transport } = options
  const ask = async <T>(instance: string, method: 'GET' | 'POST', url: string, body?: unknown) => {
    const response = await transport.request(instance, { method, url, body })
    if (response.status >= 400) throw new Error(`${instance} ${url}: ${response.status}`)
    return response.body as T
  }
  const instances = (service: 'product' | 'order' | 'search') => directory.instances.get(service) ?? []
  const probe = (instance: string, cache: string, id: string) =>
    ask<Probed>(instance, 'GET', `/internal/cache/${cache}/product:${id}`)

  // One copy per cache tier per instance, the shared L2s once, and the search projection.
  const cacheCopies = (service: 'product' | 'order', cache: string): Copy<Versioned>[] => {
    const [first] = instances(service)
    const tier = (name: string, instance: string, level: 'l1' | 'l2'): Copy<Versioned> => ({
      name,
      read: async (id) => {
        const value = (await probe(instance, cache, id))[level]?.value
        return value && { version: value.version ?? 0, value }
      },
      repair: async (id) => void (await ask(instance, 'POST', `/internal/cache/${cache}/product:${id}/drop`)),
    })
    return [
      ...(first ? [tier(`${cache}:l2`, first, 'l2')] : []),
      ...instances(service).map((instance) => tier(`${instance}:${cache}:l1`, instance, 'l1')),
    ]
  }
  const searchCopy: Copy<Versioned> = {
    name: 'search',
    required: true,
    fields: ['id', 'name', 'price'],
    read: async (id) => {
      const row = await ask<Versioned & { id?: number }>(
        instances('search')[0]!,
        'GET',
        `/internal/search/${id}`,
      )
      return row.id === undefined ? undefined : { version: row.version ?? 0, value: row }
    },
    repair: async (id, source) =>
      void (await ask(instances('search')[0]!, 'POST', `/internal/search/${id}/repair`, {
        product: source?.value,
      })),
  }
  const products: Comparator<Versioned> = {
    name: 'products',
    sample: async (n) =>
      (
        await infra.shards.scatter((q) =>
          q.query<{ id: number }>('SELECT id FROM products ORDER BY random() LIMIT $1', [n]),
        )
      ).flatMap(({ rows }) => rows.map((row) => String(row.id))),
    source: async (id) => {
      const product = await infra.shards.read(
        Number(id),
        (q) =>
          q.query<Product>(
            'SELECT id, name, price::float8 AS price, stock, version FROM products WHERE id = $1',
            [Number(id)],
          ),
        { primary: true },
      )
      const row = product.rows[0]
      return row && { version: row.version, value: row }
    },
    copies: [...cacheCopies('product', 'products'), ...cacheCopies('order', 'order-products'), searchCopy],
    // The order service keeps only what prices an order.
    ignoreFields: ['stock'],
  }
  const checker = createChecker({
    comparators: [products],
    budget: 50,
    // A copy still catching up with a fresh write (within the promised bound) is not a divergence.
    confirmAfter: 1000,
    schedule: { every: '30s' },
    metrics: checkerMetrics(options.registry),
  })

  const probes: Probe[] = [
    ...instances('product').map((instance) => tierProbe(`${instance}:l1`, instance, 'products', 'l1')),
    ...instances('order').map((instance) =>
      tierProbe(`${instance}:order-cache`, instance, 'order-products', 'l1'),
    ),
    {
      path: 'search',
      read: async (id) =>
        (await ask<Versioned>(instances('search')[0]!, 'GET', `/internal/search/${id}`)).version ?? null,
    },
  ]
  function tierProbe(path: string, instance: string, cache: string, tier: 'l1' | 'l2'): Probe {
    return {
      path,
      absentIsConverged: true,
      read: async (id) => (await probe(instance, cache, id))[tier]?.value?.version ?? null,
    }
  }
  const tracer = createConvergenceTracer({
    probes,
    sampleRate: 0.2,
    metrics: tracerMetrics(options.registry),
  })

  // Read-only handles: outbox status and saga counts straight from the shards; the relays and engines that
  // drive them run in the services.
  const outbox = createOutboxAdmin({ shards: infra.shards })
  const sagas = createSagaAdmin({ log: createSqlSagaLog({ db: sagaSqlFromShards(infra.shards) }) })

  createAdminRoutes(app, {
    token: options.token,
    registry: options.registry,
    title: 'concord shop',
    sources: {
      replication: () => infra.shards.health(),
      caches: async () =>
        (
          await Promise.all(
            directory.all().map((i) => ask<{ caches: CacheStatsLike[] }>(i, 'GET', '/internal/stats')),
          )
        ).flatMap((stats) => stats.caches),
      outbox: () => outbox.status(),
      sagas: () => sagas.counts(),
      broker: () => infra.broker.health(),
      checker,
      convergence: tracer,
    },
  })
  const selfCheck = options.selfCheck ?? true
  if (selfCheck) checker.start()
  return {
    checker,
    tracer,
    /** Follows a product write to every copy (a sampled share of them). */
    track: (product: Product) => {
      if (selfCheck) void tracer.track(String(product.id), product.version)
    },
    url: (baseUrl: string) => dashboardUrl(baseUrl, options.token),
    async close() {
      await Promise.all([checker.close(), tracer.close()])
    },
  }
}
