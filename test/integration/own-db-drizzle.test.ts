import { drizzle } from 'drizzle-orm/node-postgres'
import { integer, pgTable } from 'drizzle-orm/pg-core'
import { drizzleTx } from '../../src/drizzle/index.js'
import { ownDbSuite } from '../support/own-db-suite.js'

const items = pgTable('items', { id: integer('id').primaryKey() })

ownDbSuite({
  name: 'drizzle',
  async open(pool) {
    const db = drizzle({ client: pool })
    return {
      transaction: (fn) =>
        db.transaction((tx) => fn(drizzleTx(tx), async (id) => void (await tx.insert(items).values({ id })))),
      adaptNonTransaction: () => drizzleTx(db as never),
      close: async () => {},
    }
  },
})
