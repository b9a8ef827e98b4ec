import { createMemoryBus } from '../../src/memory/index.js'
import { createRedisBus } from '../../src/redis/index.js'
import { runBusContract } from '../../src/testing/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'

runBusContract({ name: 'memory', create: () => createMemoryBus() })

runBusContract({
  name: 'redis standalone',
  create: () =>
    createRedisBus({
      url: sharedServices().redis.url,
      prefix: `${uniqueName('bus')}:`,
      heartbeatInterval: '100ms',
    }),
})

runBusContract({
  name: 'redis cluster',
  create: () =>
    createRedisBus({
      nodes: sharedServices().redisCluster.nodes,
      prefix: `${uniqueName('bus')}:`,
      heartbeatInterval: '100ms',
    }),
})
