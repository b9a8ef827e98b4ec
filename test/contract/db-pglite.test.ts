import { PGlite } from '@electric-sql/pglite'
import { createPgliteNode } from '../../src/pglite/index.js'
import { dbContractSuite } from './support/db-suite.js'

// Two embedded shards. The same PGlite instances back the "second process", as a second Shards in one
// process over the same databases: their adapters share each database's single-connection lock.
let dbs: PGlite[] = []

dbContractSuite('pglite', {
  async makeConfigs() {
    dbs = await Promise.all([PGlite.create(), PGlite.create()])
    return dbs.map((db) => ({ primary: createPgliteNode({ db }) }))
  },
  async sameDatabases() {
    return dbs.map((db) => ({ primary: createPgliteNode({ db }) }))
  },
  async cleanup() {
    await Promise.all(dbs.map((db) => db.close()))
  },
})
