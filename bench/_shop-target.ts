// One system under load for bench/shop.ts, in its own process (the load generator has the bench's process):
//   _shop-target.ts <kind> [--instances 2] [--l1-ttl ms] [--transport undici|fetch]
// Prints `ready <base URL>` once it serves; stops on SIGTERM.
//   map-app         a bare fastify app answering /products/:id and /orders from a Map (the floor of one hop)
//   embedded-bare   a bare gateway forwarding in process (the direct transport) to map backends
//   embedded-shop   the embedded shop (npm run demo)
//   real-bare       a bare gateway forwarding over HTTP to map-app processes
//   real-shop       the real shop (npm run demo -- --real) on servers named by the environment
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import Fastify, { type FastifyInstance } from 'fastify'
import { directTransport, httpTransport, type Transport } from '../examples/shop/gateway/transport.js'
import { embeddedInfra } from '../examples/shop/platform/embedded.js'
import { launchReal } from '../examples/shop/real/launch.js'
import { answer, type Route } from '../examples/shop/routes.js'
import { startShop } from '../examples/shop/shop.js'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    'l1-ttl': { type: 'string' },
    transport: { type: 'string', default: 'undici' },
    instances: { type: 'string', default: '2' },
  },
})
const kind = positionals[0]
const instances = Number(values.instances)
// bench/shop.ts reads the shop's status with it.
const adminToken = 'bench-admin-token-0123456789'
const closers: (() => Promise<unknown>)[] = []

/** What the map backends answer: the shop's seeded products, kept in a Map; orders are stored beside them. */
function mapRoutes(): Route[] {
  const products = new Map(
    Array.from({ length: 100 }, (_, i) => [
      i + 1,
      { id: i + 1, name: `product ${i + 1}`, price: 10 + ((i + 1) % 90), stock: 1000, version: 1 },
    ]),
  )
  const orders = new Map<number, unknown>()
  return [
    {
      method: 'GET',
      url: '/products/:id',
      handler: async ({ params }) => {
        const product = products.get(Number(params.id))
        return product ? answer(product) : answer({ error: 'not found' }, 404)
      },
    },
    {
      method: 'PUT',
      url: '/products/:id',
      handler: async ({ params, body }) => {
        const product = products.get(Number(params.id))
        if (!product) return answer({ error: 'not found' }, 404)
        const next = { ...product, ...(body as object), version: product.version + 1 }
        products.set(product.id, next)
        return answer(next)
      },
    },
    {
      method: 'POST',
      url: '/orders',
      handler: async ({ body }) => {
        const id = orders.size + 1
        orders.set(id, body)
        return answer({ id, status: 'CONFIRMED', unitPrice: 10 }, 201)
      },
    },
  ]
}

/** A bare fastify app serving `routes` (no error policy, no validation: the floor). */
function bareApp(routes: readonly Route[]): FastifyInstance {
  const app = Fastify({ logger: false })
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request, reply) => {
        const { status, body } = await route.handler(request as never)
        return reply.status(status).send(body)
      },
    })
  }
  return app
}

/** A bare gateway: every request of the shop's API to the next backend in turn, through `transport`. */
function bareGateway(backends: readonly string[], transport: Transport): FastifyInstance {
  const app = Fastify({ logger: false })
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) =>
    done(null, body),
  )
  let next = 0
  app.all('/*', async (request, reply) => {
    const backend = backends[next++ % backends.length]!
    const response = await transport.request(backend, {
      method: request.method as 'GET',
      url: request.url,
      body: request.body,
    })
    return reply.status(response.status).send(response.body)
  })
  return app
}

/** Today's real transport before undici, kept here as an anchor: `fetch` per call. */
function fetchTransport(urls: ReadonlyMap<string, string>): Transport {
  return {
    async request(instance, request) {
      const response = await fetch(urls.get(instance)! + request.url, {
        method: request.method,
        headers: request.body === undefined ? {} : { 'content-type': 'application/json' },
        body: request.body === undefined ? undefined : (request.body as string),
      })
      const text = await response.text()
      return { status: response.status, body: text ? JSON.parse(text) : undefined }
    },
  }
}

async function spawnMapApp(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', fileURLToPath(import.meta.url), 'map-app'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let seen = ''
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk
      const match = /ready (\S+)/.exec(seen)
      if (match) resolve(match[1]!)
    })
    child.once('exit', (code) => reject(new Error(`map-app exited with ${code}`)))
  })
  closers.push(async () => {
    child.kill('SIGTERM')
    await once(child, 'exit')
  })
  return { url, child }
}

const listen = async (app: FastifyInstance) => {
  await app.listen({ host: '127.0.0.1', port: 0 })
  closers.unshift(() => app.close())
  return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
}

let url: string
if (kind === 'map-app') {
  url = await listen(bareApp(mapRoutes()))
} else if (kind === 'embedded-bare') {
  const backends = new Map(Array.from({ length: instances }, (_, i) => [`map-${i + 1}`, mapRoutes()]))
  url = await listen(bareGateway([...backends.keys()], directTransport(backends)))
} else if (kind === 'embedded-shop') {
  const l1Ttl = values['l1-ttl'] ? Number(values['l1-ttl']) : undefined
  const shop = await startShop(embeddedInfra(), { port: 0, instances, seed: true, adminToken, l1Ttl })
  closers.push(() => shop.close())
  url = shop.baseUrl
} else if (kind === 'real-bare') {
  const backends = await Promise.all(Array.from({ length: instances }, spawnMapApp))
  const urls = new Map(backends.map((b, i) => [`map-${i + 1}`, b.url]))
  const transport = values.transport === 'fetch' ? fetchTransport(urls) : httpTransport(urls)
  closers.unshift(async () => transport.close?.())
  url = await listen(bareGateway([...urls.keys()], transport))
} else if (kind === 'real-shop') {
  if (values['l1-ttl']) process.env.SHOP_L1_TTL_MS = values['l1-ttl']
  const shop = await launchReal({ port: 0, instances, seed: true, adminToken })
  closers.push(() => shop.close())
  url = shop.baseUrl
} else {
  throw new Error(`unknown target ${kind}`)
}
console.log(`ready ${url}`)

const stop = async () => {
  for (const close of closers) await close().catch((error) => console.error(`${kind} close:`, error))
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
