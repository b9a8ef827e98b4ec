import type { PGlite } from '@electric-sql/pglite'
import { bootPglite, pgliteNode } from '../../src/db/index.js'
import { dbContractSuite } from './support/db-suite.js'

// Two embedded shards. The same PGlite instances back the "second process", as a second Shards in one
// process over the same databases: their adapters share each database's single-connection lock.
let dbs: PGlite[] = []

dbContractSuite('pglite', {
  async makeConfigs() {
    dbs = await Promise.all([bootPglite(), bootPglite()])
    return dbs.map((db) => ({ primary: pgliteNode({ db }) }))
  },
  async sameDatabases() {
    return dbs.map((db) => ({ primary: pgliteNode({ db }) }))
  },
  async cleanup() {
    await Promise.all(dbs.map((db) => db.close()))
  },
})
