import { Kysely, PostgresDialect } from 'kysely'
import { kyselyTx } from '../../src/kysely/index.js'
import { ownDbSuite } from '../support/own-db-suite.js'

interface Db {
  items: { id: number }
}

ownDbSuite({
  name: 'kysely',
  async open(pool) {
    const db = new Kysely<Db>({ dialect: new PostgresDialect({ pool }) })
    return {
      transaction: (fn) =>
        db
          .transaction()
          .execute((trx) =>
            fn(kyselyTx(trx), async (id) => void (await trx.insertInto('items').values({ id }).execute())),
          ),
      adaptNonTransaction: () => kyselyTx(db as never),
      // The pool is the application's: Kysely's destroy() would end it.
      close: async () => {},
    }
  },
})
