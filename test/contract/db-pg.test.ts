import type { ShardConfig } from '../../src/db/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { runNodeContract } from '../../src/testing/index.js'
import { sharedServices } from '../support/services/index.js'

// Three shards: three databases on the shared primary + streaming replica.
let urls: { primaryUrl: string; replicaUrl: string }[] = []

const configs = (): ShardConfig[] =>
  urls.map(({ primaryUrl, replicaUrl }) => ({
    primary: createPgNode({ connectionString: primaryUrl, max: 4 }),
    replicas: [createPgNode({ connectionString: replicaUrl, max: 4 })],
  }))

runNodeContract({
  name: 'pg',
  async create() {
    const pg = sharedServices().postgres
    urls = await Promise.all([
      pg.createDatabase('db_contract'),
      pg.createDatabase('db_contract'),
      pg.createDatabase('db_contract'),
    ])
    return configs()
  },
  reopen: async () => configs(),
})
