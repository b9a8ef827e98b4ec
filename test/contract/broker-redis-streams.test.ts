import { Redis } from 'ioredis'
import { createRedisStreamsBroker, type RedisStreamsBroker } from '../../src/redis/index.js'
import { runBrokerContract } from '../../src/testing/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'

runBrokerContract({
  name: 'redis streams',
  async create() {
    const url = sharedServices().redis.url
    const keyPrefix = uniqueName('broker_contract')
    const made: RedisStreamsBroker[] = []
    const make = () => {
      const broker = createRedisStreamsBroker({ url, prefix: keyPrefix })
      made.push(broker)
      return broker
    }
    const broker = make()
    return {
      broker,
      connect: make,
      open: make,
      publishRaw: (topic, data) => broker.publishRaw(topic, data),
      close: async () => {
        await Promise.all(made.map((b) => b.close()))
        // Leave the shared Redis as we found it.
        const admin = new Redis(url)
        const keys = await admin.keys(`${keyPrefix}:*`)
        if (keys.length > 0) await admin.del(...keys)
        await admin.quit()
      },
    }
  },
})
