import { memoryBroker } from '../../src/broker/index.js'
import { brokerContract } from './support/broker-suite.js'

brokerContract('memory', async () => {
  const broker = memoryBroker()
  const own: ReturnType<typeof memoryBroker>[] = []
  return {
    broker,
    connect: () => broker,
    open: () => {
      const other = memoryBroker()
      own.push(other)
      return other
    },
    publishRaw: (topic, data) => broker.publishRaw(topic, data),
    close: async () => {
      await Promise.all([broker, ...own].map((b) => b.close()))
    },
  }
})
