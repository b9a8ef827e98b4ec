import { createMemoryTier } from '../../src/memory/index.js'
import { createRedisTier } from '../../src/redis/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { tierContract } from './support/tier-suite.js'

tierContract('memory', async () => {
  const tier = createMemoryTier()
  return { tiers: [tier, tier], cleanup: async () => {} }
})

tierContract('redis standalone', async () => {
  const url = sharedServices().redis.url
  const prefix = `${uniqueName('tier')}:`
  return {
    tiers: [createRedisTier({ url, prefix }), createRedisTier({ url, prefix })],
    cleanup: async () => {},
  }
})

tierContract('redis cluster', async () => {
  const nodes = sharedServices().redisCluster.nodes
  const prefix = `${uniqueName('tier')}:`
  return {
    tiers: [createRedisTier({ nodes, prefix }), createRedisTier({ nodes, prefix })],
    cleanup: async () => {},
  }
})
