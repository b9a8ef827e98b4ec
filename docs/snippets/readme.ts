// The root README's example: one cache, shared by every instance that points at the same Redis.
// Run: REDIS_URL=redis://127.0.0.1:6379 npx tsx readme.ts
// #region example
import { createCache } from 'concord/cache'
import { createRedisBus, createRedisTier } from 'concord/redis'

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prices = createCache<number>({
  name: 'prices',
  l2: createRedisTier({ url }),
  bus: createRedisBus({ url }),
})

const price = await prices.getOrLoad('p1', async () => 10) // one load across every instance on this Redis
await prices.invalidate('p1') // after a write: every instance's L1 and the shared L2 drop p1
console.log(`price ${price}, still cached after invalidate: ${prices.hasLocal('p1')}`)
await prices.close()
// #endregion example
