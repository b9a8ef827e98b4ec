// A child process for the outbox's kill -9 tests: `node --import tsx --conditions=source outbox-child.ts <mode>`.
//   relay:  runs a relay that prints `published <ids>` after the broker acknowledged a batch and then hangs
//           before deleting the rows, so the parent can kill it between publish and mark.
//   writer: commits a product update with a durable invalidation record, prints `committed`, and would then
//           invalidate the cache synchronously; the parent kills it between the two.

import { createCache } from '../../src/cache/index.js'
import { createShards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createOutbox, createRelay } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { createRedisTier } from '../../src/redis/index.js'

const env = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`outbox-child: ${name} is not set`)
  return value
}
const hang = () => new Promise<never>(() => {})
const mode = process.argv[2]
const shards = createShards({
  shards: [{ primary: createPgNode({ connectionString: env('OUTBOX_PG_URL'), max: 2 }) }],
})

if (mode === 'relay') {
  const broker = createNatsBroker({
    servers: env('OUTBOX_NATS_URL'),
    prefix: env('OUTBOX_STREAM_PREFIX'),
    dedupWindow: Number(env('OUTBOX_DEDUP_MS')),
  })
  const relay = createRelay({
    shards,
    broker,
    lease: Number(env('OUTBOX_LEASE_MS')),
    beforeSettle: async (events) => {
      process.stdout.write(`published ${JSON.stringify(events.map((e) => e.id))}\n`)
      await hang()
    },
  })
  await relay.start()
  await hang()
} else if (mode === 'writer') {
  const cache = createCache<unknown>({
    name: env('OUTBOX_CACHE_NAME'),
    l1: false,
    l2: createRedisTier({ url: env('OUTBOX_REDIS_URL'), prefix: env('OUTBOX_CACHE_PREFIX') }),
  })
  const outbox = createOutbox()
  const { lsn } = await shards.withTransaction('p1', async (tx) => {
    await tx.query(`UPDATE products SET name = 'new', version = version + 1 WHERE id = 'p1'`)
    await outbox.addInvalidation(tx, { cache: 'products', keys: ['p1'] })
  })
  process.stdout.write('committed\n')
  // The parent kills us here: the synchronous invalidation below never runs.
  await new Promise((resolve) => setTimeout(resolve, 5_000))
  await cache.invalidate('p1', { lsn })
  process.stdout.write('invalidated\n')
  await hang()
} else {
  throw new Error(`outbox-child: unknown mode ${mode}`)
}
