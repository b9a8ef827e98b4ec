// `npm run demo [-- --port P] [--instances N] [--no-load] [--no-seed] [--real]`
// Starts the shop, printing each start-up step as it ends (`start <step>: <ms> ms`), then
// `ready http://127.0.0.1:P (<ms> ms)` once the gateway serves, timed from the process start.
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { runLoad } from './load/generator.js'
import { embeddedInfra } from './platform/embedded.js'
import { cpuMs, printedProgress } from './progress.js'
import { startShop } from './shop.js'

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    instances: { type: 'string' },
    'no-load': { type: 'boolean' },
    'no-seed': { type: 'boolean' },
    real: { type: 'boolean' },
  },
})
const flags = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(3000),
    instances: z.coerce.number().int().min(1).max(8).default(2),
    load: z.boolean(),
    seed: z.boolean(),
    real: z.boolean(),
  })
  .parse({
    port: values.port,
    instances: values.instances,
    load: !values['no-load'],
    seed: !values['no-seed'],
    real: values.real ?? false,
  })

// Node, tsx and this file's imports: paid before any step below.
console.log(`start modules: ${Math.round(performance.now())} ms, cpu ${cpuMs()} ms`)

// The admin token guards /admin/ and /metrics; the dashboard URL below carries it.
const adminToken = process.env.ADMIN_TOKEN ?? randomBytes(18).toString('base64url')
const options = { ...flags, adminToken, progress: printedProgress() }
const shop = flags.real
  ? await (await import('./real/launch.js')).launchReal(options)
  : await startShop(embeddedInfra(), options)
// performance.now() counts from the process start: module loading is part of what a newcomer waits for.
console.log(`ready ${shop.baseUrl} (${Math.round(performance.now())} ms)`)
console.log(`dashboard ${shop.dashboardUrl}`)

const stop = new AbortController()
let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  stop.abort()
  await shop.close().catch((error) => console.error('shutdown:', error))
  process.exit(0)
}
process.on('SIGINT', shutdown)
process.on('SIGTERM', shutdown)

if (flags.load) {
  await runLoad({
    baseUrl: shop.baseUrl,
    products: 100,
    members: 100,
    concurrency: 4,
    writeShare: 0.05,
    orderShare: 0.02,
    signal: stop.signal,
  })
}
