import { createShards, type Shards } from 'concord/db'
import { createInbox, outboxMigrations } from 'concord/outbox'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { searchMigrations } from '../../examples/shop/migrations.js'
import type { Product } from '../../examples/shop/schema.js'
import { SearchService } from '../../examples/shop/services/search/service.js'
import { createPgNode } from '../../src/pg/index.js'
import { sharedServices } from '../support/services/index.js'

// The checker reads a product's source, then repairs the projection from it; an event projected in between
// is newer than what the checker read, and the repair must not put the older version back (C7).
let shards: Shards
let search: SearchService

beforeAll(async () => {
  const db = await sharedServices().postgres.createDatabase('shop_search')
  shards = createShards({ shards: [{ primary: createPgNode({ connectionString: db.primaryUrl }) }] })
  await shards.migrate([...searchMigrations, ...outboxMigrations])
  search = new SearchService(shards, createInbox({ shards, consumer: 'search-test' }))
})
afterAll(async () => {
  await shards?.close()
})

const product = (version: number, name: string) =>
  ({ id: 7, name, price: 100 + version, version, stock: 1 }) as unknown as Product

describe('search repair', () => {
  it('applies the source at or above the row version, never below it', async () => {
    await search.repair(product(2, 'lamp two'), 7)
    expect(await search.row(7)).toMatchObject({ version: 2, name: 'lamp two' })
    await search.repair(product(1, 'lamp one'), 7) // a source read before version 2 was projected
    expect(await search.row(7)).toMatchObject({ version: 2, name: 'lamp two' })
    await search.repair(product(2, 'lamp two fixed'), 7) // same version, corrupted row: repaired
    expect(await search.row(7)).toMatchObject({ version: 2, name: 'lamp two fixed' })
    await search.repair(undefined, 7)
    expect(await search.row(7)).toBeUndefined()
  })
})
