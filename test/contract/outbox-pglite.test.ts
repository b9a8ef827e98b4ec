import { createShards } from '../../src/db/index.js'
import { createPgliteNode } from '../../src/pglite/index.js'
import { outboxContractSuite } from '../support/outbox-suite.js'

outboxContractSuite('pglite', {
  concurrentTransactions: false,
  makeShards: async () =>
    createShards({ shards: [{ primary: createPgliteNode() }, { primary: createPgliteNode() }] }),
})
