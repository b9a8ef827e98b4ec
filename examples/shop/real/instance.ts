// One service instance in its own process (real mode). Started by real/launch.ts with
//   --name product-1 --port P, then given one JSON line on stdin (InstanceConfig): the environment of
//   platform/real.ts and every instance's base URL. The launcher spawns it before the servers exist, so
//   the modules load while they start.
import { parseArgs } from 'node:util'
import { Registry } from 'prom-client'
import { z } from 'zod'
import { Directory, type ServiceName } from '../gateway/directory.js'
import { httpTransport } from '../gateway/transport.js'
import { factories } from '../instances.js'
import { type RealEnv, realEnv, realInfra } from '../platform/real.js'
import { serviceOf } from '../shop.js'

export interface InstanceConfig {
  env: RealEnv
  /** Instance name -> base URL, for every instance of the shop. */
  urls: Record<string, string>
}

const { values } = parseArgs({ options: { name: { type: 'string' }, port: { type: 'string' } } })
const args = z
  .object({
    name: z.string().regex(/^(product|order|member|search)-\d+$/),
    port: z.coerce.number().int().min(1),
  })
  .parse(values)
const config = z
  .object({ env: realEnv, urls: z.record(z.string(), z.string().url()) })
  .parse(JSON.parse(await firstLine(process.stdin)))
const urls = new Map(Object.entries(config.urls))
const byService = new Map<ServiceName, string[]>()
for (const name of urls.keys())
  byService.set(serviceOf(name), [...(byService.get(serviceOf(name)) ?? []), name])

// A primary failover may have lost acknowledged writes whose values the caches still hold (and whose version
// numbers the new primary will hand out again): drop everything no database can vouch for any more.
let clearCaches = async () => {}
const infra = realInfra(config.env, {
  onFailover: async (failover) => {
    console.warn(
      `${args.name}: shard ${failover.shard} failed over from ${failover.from} to ${failover.to}; commits in ` +
        `(${failover.switchLsn}, ${failover.lastOldLsn}] may be lost: clearing the caches`,
    )
    await clearCaches()
  },
})
const instance = factories[serviceOf(args.name)](
  {
    infra,
    directory: new Directory(byService),
    transport: httpTransport(urls, 30_000),
    registry: new Registry(),
    l1Ttl: Number(process.env.SHOP_L1_TTL_MS ?? 60_000),
    // One process per shard primary's feed (each slot has one consumer): the first product instance.
    changeFeed: args.name === 'product-1',
  },
  args.name,
)
clearCaches = async () => {
  await Promise.all(instance.caches.map((cache) => cache.clear()))
}
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

async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  let text = ''
  for await (const chunk of input) {
    text += chunk
    const end = text.indexOf('\n')
    if (end >= 0) return text.slice(0, end)
  }
  throw new Error('no configuration on stdin')
}
