import knex from 'knex'
import { knexTx } from '../../src/knex/index.js'
import { ownDbSuite } from '../support/own-db-suite.js'

ownDbSuite({
  name: 'knex',
  async open(_pool, url) {
    const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: 2 } })
    return {
      transaction: (fn) =>
        db.transaction((trx) => fn(knexTx(trx), async (id) => void (await trx('items').insert({ id })))),
      adaptNonTransaction: () => knexTx(db as never),
      close: () => db.destroy(),
    }
  },
})
