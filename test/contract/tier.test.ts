import { createMemoryTier } from '../../src/memory/index.js'
import { createRedisTier } from '../../src/redis/index.js'
import { runTierContract } from '../../src/testing/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'

runTierContract({
  name: 'memory',
  create: () => {
    const tier = createMemoryTier()
    return { tiers: [tier, tier] }
  },
})

runTierContract({
  name: 'redis standalone',
  create: () => {
    const url = sharedServices().redis.url
    const prefix = `${uniqueName('tier')}:`
    return { tiers: [createRedisTier({ url, prefix }), createRedisTier({ url, prefix })] }
  },
})

runTierContract({
  name: 'redis cluster',
  create: () => {
    const nodes = sharedServices().redisCluster.nodes
    const prefix = `${uniqueName('tier')}:`
    return { tiers: [createRedisTier({ nodes, prefix }), createRedisTier({ nodes, prefix })] }
  },
})
