import type { Subscription } from 'concord/broker'
import { type Cache, createCache } from 'concord/cache'
import { createInbox, createInvalidator, createOutbox, createRelay, type Outbox } from 'concord/outbox'
import { registerCacheMetrics } from 'concord/prometheus'
import { createSagaEngine, createSqlSagaLog, sagaSqlFromShards } from 'concord/saga'
import type { FastifyInstance } from 'fastify'
import type { Registry } from 'prom-client'
import { z } from 'zod'
import { type Directory, ServiceClient, type ServiceName } from './gateway/directory.js'
import type { Transport } from './gateway/transport.js'
import { createApp, parse } from './http.js'
import type { Infra } from './platform/infra.js'
import { answer, mountRoutes, type Route } from './routes.js'
import type { Product } from './schema.js'
import { memberRoutes } from './services/member/routes.js'
import { MemberService } from './services/member/service.js'
import { subscribeOrderProcess, subscribeParticipant } from './services/order/choreography.js'
import { productChanged } from './services/order/product-info.js'
import { orderRoutes } from './services/order/routes.js'
import { orderSaga } from './services/order/saga.js'
import { ORDER_PRODUCT_CACHE, OrderService, type ProductInfo } from './services/order/service.js'
import { productFeedTables } from './services/product/feed.js'
import { productRoutes } from './services/product/routes.js'
import { PRODUCT_CACHE, ProductService } from './services/product/service.js'
import { searchRoutes } from './services/search/routes.js'
import { SearchService } from './services/search/service.js'

/** What every instance is built from. `transport` reaches the other instances (in-process or HTTP). */
export interface InstanceContext {
  infra: Infra
  directory: Directory
  transport: Transport
  registry?: Registry
  /** L1 time-to-live: the upper bound of staleness if every other layer failed at once. */
  l1Ttl: number
  /**
   * Whether this instance runs the WAL change feeds (one per shard primary, one slot each; real mode). One
   * process must: in real mode product-1 does. Ignored when the platform has none (embedded, or turned off).
   */
  changeFeed?: boolean
}

/** One running instance of a service: its HTTP app, its background workers, and what it reports. */
export interface Instance {
  readonly name: string
  readonly service: ServiceName
  /** Its routes: mounted on `app`, or called in process by the direct transport. */
  readonly routes: readonly Route[]
  /** Its routes on fastify (an instance in its own process listens with it). */
  readonly app: FastifyInstance
  readonly caches: Cache<unknown>[]
  start(): Promise<void>
  close(): Promise<void>
}

const outbox: Outbox = createOutbox()

function cacheFor<T>(context: InstanceContext, name: string, instanceId: string): Cache<T> {
  const cache = createCache<T>({
    name,
    instanceId,
    l1: { maxEntries: 10_000, ttl: context.l1Ttl },
    l2: context.infra.l2,
    bus: context.infra.bus,
    ttl: '10m',
    grace: '1m',
  })
  if (context.registry) registerCacheMetrics(context.registry, cache)
  return cache
}

/** Internal routes every instance has: its stats, and a look at a cache entry for the checker and tracer. */
function internals(
  name: string,
  service: ServiceName,
  caches: Cache<unknown>[],
  more: () => object = () => ({}),
): Route[] {
  const key = z.strictObject({ cache: z.string().min(1), key: z.string().min(1).max(500) })
  return [
    {
      method: 'GET',
      url: '/internal/stats',
      handler: async () =>
        answer({ instance: name, service, caches: caches.map((c) => c.stats()), ...more() }),
    },
    {
      method: 'GET',
      url: '/internal/cache/:cache/:key',
      handler: async ({ params }) => {
        const { cache, key: k } = parse(key, params, 'cache probe')
        const found = caches.find((c) => c.name === cache)
        return answer(found ? { instance: name, ...(await found.inspect(k)) } : { instance: name })
      },
    },
    {
      method: 'POST',
      url: '/internal/cache/:cache/:key/drop',
      handler: async ({ params }) => {
        const { cache, key: k } = parse(key, params, 'cache repair')
        await caches.find((c) => c.name === cache)?.invalidate(k)
        return answer({ dropped: true })
      },
    },
  ]
}

export function productInstance(context: InstanceContext, name: string): Instance {
  const { infra } = context
  const cache = cacheFor<Product | undefined>(context, PRODUCT_CACHE, name)
  const service = new ProductService(infra.shards, cache, outbox)
  // Relays run beside the writers; leases let several drain one shard without publishing out of order.
  const relay = createRelay({
    shards: infra.shards,
    broker: infra.broker,
    id: name,
    onError: quiet(`${name} relay`),
  })
  const invalidator = createInvalidator({ broker: infra.broker, caches: { [PRODUCT_CACHE]: cache } })
  const inbox = createInbox({ shards: infra.shards, consumer: 'stock-participant' })
  // Writes made outside the shop (plain SQL on a primary) reach the caches and search through these.
  const feeds = context.changeFeed
    ? (infra.changeFeeds?.({
        tables: productFeedTables,
        caches: { [PRODUCT_CACHE]: cache },
        onError: quiet(`${name} change feed`),
      }) ?? [])
    : []
  let subscription: Subscription | undefined
  const caches = [cache] as Cache<unknown>[]
  const routes = productRoutes(
    service,
    internals(name, 'product', caches, () => ({ relay: relay.stats() })),
  )
  const app = mountRoutes(routes)
  return {
    name,
    service: 'product',
    routes,
    app,
    caches,
    async start() {
      await relay.start()
      await invalidator.start()
      subscription = await subscribeParticipant(infra.broker, inbox, outbox, {
        step: 'stock',
        accepted: 'StockReserved',
        rejected: 'StockRejected',
        undone: 'StockRestored',
        shardKeyOf: (order) => order.productId,
        take: (tx, order) => service.reserveIn(tx, order.productId, order.quantity),
        give: (tx, order) => service.releaseIn(tx, order.productId, order.quantity),
      })
      await Promise.all(feeds.map((feed) => feed.start()))
    },
    async close() {
      await Promise.all(feeds.map((feed) => feed.close()))
      await subscription?.close()
      await relay.close()
      await invalidator.close()
      await app.close()
      await cache.close()
    },
  }
}

export function memberInstance(context: InstanceContext, name: string): Instance {
  const { infra } = context
  const service = new MemberService(infra.shards)
  const inbox = createInbox({ shards: infra.shards, consumer: 'points-participant' })
  let subscription: Subscription | undefined
  const routes = memberRoutes(service, internals(name, 'member', []))
  const app = mountRoutes(routes)
  return {
    name,
    service: 'member',
    routes,
    app,
    caches: [],
    async start() {
      subscription = await subscribeParticipant(infra.broker, inbox, outbox, {
        step: 'points',
        accepted: 'PointsUsed',
        rejected: 'PointsRejected',
        undone: 'PointsRefunded',
        shardKeyOf: (order) => order.memberId,
        take: (tx, order) => service.useIn(tx, order.memberId, order.points),
        give: (tx, order) => service.refundIn(tx, order.memberId, order.points),
      })
    },
    async close() {
      await subscription?.close()
      await app.close()
    },
  }
}

export function orderInstance(context: InstanceContext, name: string): Instance {
  const { infra, directory, transport } = context
  const productInfo = cacheFor<ProductInfo | undefined>(context, ORDER_PRODUCT_CACHE, name)
  const products = new ServiceClient('product', directory, transport)
  const members = new ServiceClient('member', directory, transport)
  const engine = createSagaEngine({
    log: createSqlSagaLog({ db: sagaSqlFromShards(infra.shards) }),
    owner: name,
  })
  const saga = engine.register(orderSaga(infra.shards, products, members))
  const service = new OrderService(infra.shards, productInfo, products, members, engine, saga, outbox)
  const inbox = createInbox({ shards: infra.shards, consumer: 'order-product-info' })
  const processInbox = createInbox({ shards: infra.shards, consumer: 'order-process' })
  const subscriptions: Subscription[] = []
  const caches = [productInfo] as Cache<unknown>[]
  const routes = orderRoutes(service, internals(name, 'order', caches))
  const app = mountRoutes(routes)
  return {
    name,
    service: 'order',
    routes,
    app,
    caches,
    async start() {
      // ProductUpdated -> drop the product's info here; the next order loads it fresh.
      subscriptions.push(
        await infra.broker.subscribe('product', 'order-service', async (event) => {
          // The invalidation is the effect: inside the handler, a failure rolls the inbox record back and
          // the event comes again. (After the commit, a failure would leave the price stale until the TTL.)
          await inbox.handle(event, () => productChanged(productInfo, event))
        }),
        ...(await subscribeOrderProcess(infra.broker, processInbox, outbox)),
      )
      await engine.start()
    },
    async close() {
      await Promise.all(subscriptions.map((s) => s.close()))
      await engine.close()
      await app.close()
      await productInfo.close()
    },
  }
}

export function searchInstance(context: InstanceContext, name: string): Instance {
  const { infra } = context
  const inbox = createInbox({ shards: infra.search, consumer: 'search', shardKeyFor: () => 0 })
  const service = new SearchService(infra.search, inbox)
  let subscription: Subscription | undefined
  const routes = searchRoutes(service, internals(name, 'search', []))
  const app = mountRoutes(routes)
  return {
    name,
    service: 'search',
    routes,
    app,
    caches: [],
    async start() {
      subscription = await infra.broker.subscribe('product', 'search', (event) => service.project(event))
    },
    async close() {
      await subscription?.close()
      await app.close()
    },
  }
}

export const factories: Record<ServiceName, (context: InstanceContext, name: string) => Instance> = {
  product: productInstance,
  member: memberInstance,
  order: orderInstance,
  search: searchInstance,
}

function quiet(name: string) {
  let last = 0
  return (error: unknown) => {
    // A relay (or feed) survives outages by backing off; say so at most every 5 s rather than per attempt.
    if (Date.now() - last < 5000) return
    last = Date.now()
    console.warn(`${name}: ${(error as Error).message ?? error}`)
  }
}

export { createApp }
