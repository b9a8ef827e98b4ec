import { createShards } from '../../src/db/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { runOutboxContract } from '../../src/testing/index.js'
import { sharedServices } from '../support/services/index.js'

runOutboxContract({
  name: 'pg',
  concurrentTransactions: true,
  async createShards() {
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
