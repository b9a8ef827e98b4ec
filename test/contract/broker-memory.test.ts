import { createMemoryBroker } from '../../src/memory/index.js'
import { runBrokerContract } from '../../src/testing/index.js'

runBrokerContract({
  name: 'memory',
  async create() {
    const broker = createMemoryBroker()
    return {
      broker,
      connect: () => broker,
      publishRaw: (topic, data) => broker.publishRaw(topic, data),
      close: () => broker.close(),
    }
  },
})
