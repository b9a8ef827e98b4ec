// A child process for the change feed's kill -9 test: `node --import tsx --conditions=source feed-child.ts hang`.
// Runs a feed whose caches are the parent's (same Redis L2 and bus); prints `streaming`, then, for the first
// batch it receives, `received <lsn>`, and hangs before applying it: the parent kills it between receiving a
// change and acknowledging it.

import { createCache } from '../../src/cache/index.js'
import { createChangeFeed } from '../../src/pg/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'

const env = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`feed-child: ${name} is not set`)
  return value
}
if (process.argv[2] !== 'hang') throw new Error(`feed-child: unknown mode ${process.argv[2]}`)
const url = env('FEED_REDIS_URL')
const prefix = env('FEED_CACHE_PREFIX')
const cache = createCache<string>({
  name: 'products',
  l2: createRedisTier({ url, prefix }),
  bus: createRedisBus({ url, prefix }),
})
const feed = createChangeFeed({
  connectionString: env('FEED_PG_URL'),
  slot: env('FEED_SLOT'),
  tables: { products: { cache: 'products', keys: (row) => [`product:${row.id}`] } },
  caches: { products: cache },
  beforeApply: async (batch) => {
    process.stdout.write(`received ${batch[batch.length - 1]!.lsn}\n`)
    await new Promise<never>(() => {})
  },
})
await feed.start()
process.stdout.write('streaming\n')
await new Promise<never>(() => {})
