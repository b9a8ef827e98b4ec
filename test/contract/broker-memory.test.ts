import { memoryBroker } from '../../src/broker/index.js'
import { brokerContract } from './support/broker-suite.js'

brokerContract('memory', async () => {
  const broker = memoryBroker()
  return {
    broker,
    connect: () => broker,
    publishRaw: (topic, data) => broker.publishRaw(topic, data),
    close: () => broker.close(),
  }
})
