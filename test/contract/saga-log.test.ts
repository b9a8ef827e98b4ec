import { createShards, type Shards } from 'concord/db'
import { createSqlSagaLog, sagaMigrations, sagaSqlFromShards } from 'concord/saga'
import { afterAll, beforeAll } from 'vitest'
import { createMemorySagaLog } from '../../src/memory/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { createPgliteNode } from '../../src/pglite/index.js'
import { runSagaLogContract } from '../../src/testing/index.js'
import { sharedServices } from '../support/services/index.js'

// One suite for every SagaLog adapter: memory, PGlite and PostgreSQL (two shards).

let pgShards: Shards
let liteShards: Shards
beforeAll(async () => {
  const pg = sharedServices().postgres
  const dbs = await Promise.all([0, 1].map(() => pg.createDatabase('saga_log')))
  pgShards = createShards({
    shards: dbs.map((d) => ({ primary: createPgNode({ connectionString: d.primaryUrl }) })),
    healthInterval: '1h',
  })
  liteShards = createShards({
    shards: [{ primary: createPgliteNode() }, { primary: createPgliteNode() }],
    healthInterval: '1h',
  })
  await pgShards.migrate([...sagaMigrations])
  await liteShards.migrate([...sagaMigrations])
})
afterAll(async () => {
  await pgShards?.close()
  await liteShards?.close()
})

runSagaLogContract({ name: 'memory', create: () => createMemorySagaLog() })
runSagaLogContract({
  name: 'pglite',
  create: () => createSqlSagaLog({ db: sagaSqlFromShards(liteShards) }),
  shards: () => liteShards,
})
runSagaLogContract({
  name: 'postgres',
  create: () => createSqlSagaLog({ db: sagaSqlFromShards(pgShards) }),
  shards: () => pgShards,
})
