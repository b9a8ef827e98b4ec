import type { PGlite } from '@electric-sql/pglite'
import { bootPglite, createPgliteNode } from '../../src/pglite/index.js'
import { runNodeContract } from '../../src/testing/index.js'

// Two embedded shards. The same PGlite instances back the "second process", as a second Shards in one
// process over the same databases: their adapters share each database's single-connection lock.
let dbs: PGlite[] = []

runNodeContract({
  name: 'pglite',
  async create() {
    dbs = await Promise.all([bootPglite(), bootPglite()])
    return dbs.map((db) => ({ primary: createPgliteNode({ db }) }))
  },
  async reopen() {
    return dbs.map((db) => ({ primary: createPgliteNode({ db }) }))
  },
  async cleanup() {
    await Promise.all(dbs.map((db) => db.close()))
  },
})
