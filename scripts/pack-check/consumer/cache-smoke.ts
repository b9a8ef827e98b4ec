// The cache as a cache-only user runs it (concord + ioredis): two instances of one cache sharing a Redis L2
// tier and a Redis invalidation bus; a value filled by one is read from L2 by the other, and an invalidation
// made by one reaches the other's L1.
import { createCache } from 'concord/cache'
import { createRedisBus, createRedisTier } from 'concord/redis'
import { check, env, waitFor } from './kit.js'

const url = env('REDIS_URL')
const prefix = `pack-check-${process.pid}:`
const instance = (instanceId: string) =>
  createCache<{ price: number }>({
    name: 'prices',
    instanceId,
    l2: createRedisTier({ url, prefix }),
    bus: createRedisBus({ url, prefix: `${prefix}bus:` }),
  })
const a = instance('a')
const b = instance('b')
try {
  await waitFor('both buses healthy', () => a.stats().bus.healthy && b.stats().bus.healthy)
  let price = 1
  const loaded: number[] = []
  const loader = async () => {
    loaded.push(price)
    return { price }
  }
  check((await a.getOrLoad('p1', loader)).price === 1, 'a loads p1')
  check((await b.getOrLoad('p1', loader)).price === 1 && loaded.join() === '1', "b reads a's fill from L2")
  check(b.hasLocal('p1'), 'b keeps p1 in its L1')

  price = 2
  await a.invalidate('p1')
  await waitFor("a's invalidation in b's L1", () => !b.hasLocal('p1'))
  check((await b.getOrLoad('p1', loader)).price === 2 && loaded.join() === '1,2', 'b loads the new value')
  check(b.stats().bus.messagesIn > 0, 'b counted the bus message')
  console.log('cache smoke: ok (fill shared through Redis L2, invalidation seen by the other instance)')
} finally {
  await Promise.all([a.close(), b.close()])
}
