import { createMemoryBus } from '../../src/memory/index.js'
import { createRedisBus } from '../../src/redis/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { busContract } from './support/bus-suite.js'

busContract('memory', () => createMemoryBus())

busContract('redis standalone', () =>
  createRedisBus({
    url: sharedServices().redis.url,
    prefix: `${uniqueName('bus')}:`,
    heartbeatInterval: '100ms',
  }),
)

busContract('redis cluster', () =>
  createRedisBus({
    nodes: sharedServices().redisCluster.nodes,
    prefix: `${uniqueName('bus')}:`,
    heartbeatInterval: '100ms',
  }),
)
