// One cache instance in a process of its own, driven over stdin/stdout with JSON lines, so a test can run it
// under `faketime` with a clock off by some seconds (test/chaos/clock-skew.test.ts). The "database" is a plain
// Redis key per cache key (`<prefix>src:<key>`), read by the loader and written before each invalidation.
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'
import { createCache } from '../../../src/cache/index.js'
import { createRedisBus, createRedisTier } from '../../../src/redis/index.js'

const [url, prefix, id, ttl] = process.argv.slice(2) as [string, string, string, string]
const source = new Redis(url)
const cache = createCache<number>({
  name: 'skew',
  instanceId: id,
  l2: createRedisTier({ url, prefix }),
  bus: createRedisBus({ url, prefix: `${prefix}bus:`, heartbeatInterval: '100ms' }),
  ttl: Number(ttl),
  jitter: 0,
})
const load = async (key: string) => Number((await source.get(`${prefix}src:${key}`)) ?? 0)

type Command = { n: number; op: 'read' | 'write' | 'stats' | 'close'; key?: string; value?: number }
const handle = async (c: Command): Promise<unknown> => {
  switch (c.op) {
    case 'read':
      return { value: await cache.getOrLoad(c.key!, () => load(c.key!)), local: cache.hasLocal(c.key!) }
    case 'write':
      await source.set(`${prefix}src:${c.key}`, String(c.value))
      await cache.invalidate(c.key!)
      return {}
    case 'stats':
      return { stats: cache.stats(), now: Date.now() }
    case 'close':
      await cache.close()
      source.disconnect()
      return {}
  }
}
createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line) as Command
  handle(command).then(
    (result) => process.stdout.write(`${JSON.stringify({ n: command.n, ...(result as object) })}\n`),
    (error: Error) => process.stdout.write(`${JSON.stringify({ n: command.n, error: error.message })}\n`),
  )
})
process.stdout.write(`${JSON.stringify({ ready: true, now: Date.now() })}\n`)
