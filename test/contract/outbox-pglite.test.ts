import { createShards } from '../../src/db/index.js'
import { createPgliteNode } from '../../src/pglite/index.js'
import { runOutboxContract } from '../../src/testing/index.js'

runOutboxContract({
  name: 'pglite',
  concurrentTransactions: false,
  createShards: async () =>
    createShards({ shards: [{ primary: createPgliteNode() }, { primary: createPgliteNode() }] }),
})
