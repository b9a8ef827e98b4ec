import { createShards } from '../../src/db/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { outboxContractSuite } from '../support/outbox-suite.js'
import { sharedServices } from '../support/services/index.js'

outboxContractSuite('pg', {
  concurrentTransactions: true,
  async makeShards() {
    const pg = sharedServices().postgres
    const dbs = await Promise.all([
      pg.createDatabase('outbox_contract'),
      pg.createDatabase('outbox_contract'),
    ])
    return createShards({
      shards: dbs.map((db) => ({ primary: createPgNode({ connectionString: db.primaryUrl, max: 8 }) })),
    })
  },
})
