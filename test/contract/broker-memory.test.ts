import { createMemoryBroker } from '../../src/memory/index.js'
import { brokerContract } from './support/broker-suite.js'

brokerContract('memory', async () => {
  const broker = createMemoryBroker()
  return {
    broker,
    connect: () => broker,
    publishRaw: (topic, data) => broker.publishRaw(topic, data),
    close: () => broker.close(),
  }
})
