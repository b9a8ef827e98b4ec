import { createMemoryBroker } from '../../src/memory/index.js'
import { runBrokerContract } from '../../src/testing/index.js'

runBrokerContract({
  name: 'memory',
  async create() {
    const broker = createMemoryBroker()
    const own: ReturnType<typeof createMemoryBroker>[] = []
    return {
      broker,
      connect: () => broker,
      open: () => {
        const other = createMemoryBroker()
        own.push(other)
        return other
      },
      publishRaw: (topic, data) => broker.publishRaw(topic, data),
      close: async () => {
        await Promise.all([broker, ...own].map((b) => b.close()))
      },
    }
  },
})
