import { memoryTier, redisTier } from '../../src/cache/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { tierContract } from './support/tier-suite.js'

tierContract('memory', async () => {
  const tier = memoryTier()
  return { tiers: [tier, tier], cleanup: async () => {} }
})

tierContract('redis standalone', async () => {
  const url = sharedServices().redis.url
  const prefix = `${uniqueName('tier')}:`
  return { tiers: [redisTier({ url, prefix }), redisTier({ url, prefix })], cleanup: async () => {} }
})

tierContract('redis cluster', async () => {
  const nodes = sharedServices().redisCluster.nodes
  const prefix = `${uniqueName('tier')}:`
  return { tiers: [redisTier({ nodes, prefix }), redisTier({ nodes, prefix })], cleanup: async () => {} }
})
