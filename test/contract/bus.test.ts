import { memoryBus, redisBus } from '../../src/bus/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { busContract } from './support/bus-suite.js'

busContract('memory', () => memoryBus())

busContract('redis standalone', () =>
  redisBus({ url: sharedServices().redis.url, prefix: `${uniqueName('bus')}:`, heartbeatInterval: '100ms' }),
)

busContract('redis cluster', () =>
  redisBus({
    nodes: sharedServices().redisCluster.nodes,
    prefix: `${uniqueName('bus')}:`,
    heartbeatInterval: '100ms',
  }),
)
