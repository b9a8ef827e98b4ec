import { createOutbox } from 'concord/outbox'
import type { FastifyInstance } from 'fastify'
import { Registry } from 'prom-client'
import { mountAdmin } from './admin.js'
import { Directory, type ServiceName } from './gateway/directory.js'
import { createGateway } from './gateway/gateway.js'
import { directTransport, type Transport } from './gateway/transport.js'
import { factories, type Instance } from './instances.js'
import { migrateShop } from './migrations.js'
import type { Infra } from './platform/infra.js'
import { type Progress, quiet } from './progress.js'
import type { Route } from './routes.js'
import { seedMembers } from './services/member/service.js'
import { seedProducts } from './services/product/service.js'

export interface ShopOptions {
  port: number
  /** Instances of each service. */
  instances: number
  seed: boolean
  /** L1 time-to-live, ms. */
  l1Ttl?: number
  /** Guards /admin/ and /metrics (16+ characters). */
  adminToken: string
  /** Told each start-up step as it ends (the demo prints them). */
  progress?: Progress
}

/** The whole shop in this process: every instance of every service behind the gateway, on `infra`. */
export interface Shop {
  readonly baseUrl: string
  /** The dashboard, with the admin token in its URL. */
  readonly dashboardUrl: string
  readonly gateway: FastifyInstance
  readonly instances: readonly Instance[]
  readonly directory: Directory
  readonly transport: Transport
  readonly infra: Infra
  readonly registry: Registry
  close(): Promise<void>
}

/** Creates the tables, seeds products 1..100 and members 1..100 unless told not to. */
export async function prepare(infra: Infra, seed: boolean, progress: Progress = quiet): Promise<void> {
  // Opening first, on its own, so the log tells the databases' start (PGlite boots) from the migrations.
  const select1 = (shards: Infra['shards']) => shards.scatter((q) => q.query('SELECT 1'), { primary: true })
  await progress.step('databases', () => Promise.all([select1(infra.shards), select1(infra.search)]))
  await progress.step('migrations', () => migrateShop(infra))
  if (seed) {
    await progress.step('seed', async () => {
      await seedProducts(infra.shards, createOutbox(), 100)
      await seedMembers(infra.shards, 100)
    })
  }
}

export async function startShop(infra: Infra, options: ShopOptions): Promise<Shop> {
  const progress = options.progress ?? quiet
  await prepare(infra, options.seed, progress)
  const registry = new Registry()
  const directory = Directory.of(options.instances)
  const routes = new Map<string, readonly Route[]>()
  const transport = directTransport(routes)
  const context = { infra, directory, transport, registry, l1Ttl: options.l1Ttl ?? 60_000 }
  const instances = await progress.step('services', async () => {
    const instances = directory.all().map((name) => factories[serviceOf(name)](context, name))
    for (const instance of instances) routes.set(instance.name, instance.routes)
    await Promise.all(instances.map((instance) => instance.start()))
    return instances
  })

  let admin: ReturnType<typeof mountAdmin> | undefined
  const gateway = createGateway(directory, transport, {
    extra: (app) => {
      admin = mountAdmin(app, { infra, directory, transport, token: options.adminToken, registry })
    },
    onProductWrite: (product) => admin?.track(product),
  })
  await progress.step('gateway', () => gateway.listen({ host: '127.0.0.1', port: options.port }))
  const { port } = gateway.server.address() as { port: number }
  const baseUrl = `http://127.0.0.1:${port}`
  return {
    baseUrl,
    dashboardUrl: admin!.url(baseUrl),
    gateway,
    instances,
    directory,
    transport,
    infra,
    registry,
    async close() {
      await admin?.close()
      await gateway.close()
      for (const instance of instances) await instance.close()
      await infra.close()
    },
  }
}

export const serviceOf = (instance: string) => instance.replace(/-\d+$/, '') as ServiceName
