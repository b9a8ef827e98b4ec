import { createShards, pgliteNode } from '../../src/db/index.js'
import { outboxContractSuite } from '../support/outbox-suite.js'

outboxContractSuite('pglite', {
  concurrentTransactions: false,
  makeShards: async () => createShards({ shards: [{ primary: pgliteNode() }, { primary: pgliteNode() }] }),
})
