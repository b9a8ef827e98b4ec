// One service instance in its own process (real mode). Started by real/launch.ts with:
//   --name product-1 --port P, and the environment of platform/real.ts plus SHOP_INSTANCE_URLS
//   (JSON: instance name -> base URL, for every instance of the shop).
import { parseArgs } from 'node:util'
import { Registry } from 'prom-client'
import { z } from 'zod'
import { Directory, type ServiceName } from '../gateway/directory.js'
import { httpTransport } from '../gateway/transport.js'
import { factories } from '../instances.js'
import { realEnv, realInfra } from '../platform/real.js'
import { serviceOf } from '../shop.js'

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string' } } })
const args = z
  .object({
    name: z.string().regex(/^(product|order|member|search)-\d+$/),
    port: z.coerce.number().int().min(1),
  })
  .parse(values)
const urls = new Map(
  Object.entries(
    z.record(z.string(), z.string().url()).parse(JSON.parse(process.env.SHOP_INSTANCE_URLS ?? '{}')),
  ),
)
const byService = new Map<ServiceName, string[]>()
for (const name of urls.keys())
  byService.set(serviceOf(name), [...(byService.get(serviceOf(name)) ?? []), name])

const infra = realInfra(realEnv.parse(process.env))
const instance = factories[serviceOf(args.name)](
  {
    infra,
    directory: new Directory(byService),
    transport: httpTransport(urls, 30_000),
    registry: new Registry(),
    l1Ttl: Number(process.env.SHOP_L1_TTL_MS ?? 60_000),
  },
  args.name,
)
await instance.app.listen({ host: '127.0.0.1', port: args.port })
await instance.start()
console.log(`listening ${args.name} http://127.0.0.1:${args.port}`)

const shutdown = async () => {
  await instance.close().catch(() => undefined)
  await infra.close().catch(() => undefined)
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
