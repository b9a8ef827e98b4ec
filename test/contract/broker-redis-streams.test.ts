import { Redis } from 'ioredis'
import { type RedisStreamsBroker, redisStreamsBroker } from '../../src/broker/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { brokerContract } from './support/broker-suite.js'

brokerContract('redis streams', async () => {
  const url = sharedServices().redis.url
  const keyPrefix = uniqueName('broker_contract')
  const made: RedisStreamsBroker[] = []
  const make = () => {
    const broker = redisStreamsBroker({ redis: url, keyPrefix })
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
})
