/**
 * The integration guide (docs/guides/integrations.md): the outbox written in the application's own
 * transactions (node-postgres, Kysely, Drizzle, Knex), one event per ORM, relayed; a rolled-back one never is.
 * Run: DATABASE_URL=postgres://... node --import tsx --conditions=source docs/snippets/guides/integrations/orms.ts
 */

import { createShards, withCommitLsn } from 'concord/db'
import { drizzleTx } from 'concord/drizzle'
import { knexTx } from 'concord/knex'
import { kyselyTx } from 'concord/kysely'
import { createMemoryBroker } from 'concord/memory'
import { createOutbox, createRelay, type EventInput, outboxMigrations } from 'concord/outbox'
import { createPgNode } from 'concord/pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import createKnex from 'knex'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'

const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) throw new Error('set DATABASE_URL')
const run = `r${process.pid}`
const event = (orm: string): EventInput => ({
  aggregateType: 'note',
  aggregateId: `${run}-${orm}`,
  aggregateVersion: 1,
  type: 'NoteWritten',
  payload: { orm },
})

// #region pool
// concord opens no pool of its own: one database, the application's pool (a LISTEN connection is taken from it).
const pool = new pg.Pool({ connectionString: databaseUrl, max: 5 })
const shards = createShards({ primary: createPgNode({ pool }) })
await shards.migrate(outboxMigrations) // or print the SQL for your migration tool: migrationScript(outboxMigrations)
const outbox = createOutbox()
// #endregion pool

// #region node-postgres
const client = await pool.connect()
try {
  await client.query('BEGIN')
  // ... the application's own statements ...
  await outbox.add(client, event('pg')) // the PoolClient inside BEGIN is the Connection
  await client.query('COMMIT')
} catch (error) {
  await client.query('ROLLBACK')
  throw error
} finally {
  client.release()
}
// #endregion node-postgres

// #region kysely
const kysely = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) })
await kysely.transaction().execute((trx) => outbox.add(kyselyTx(trx), event('kysely')))
// #endregion kysely

// #region drizzle
const db = drizzle({ client: pool })
await db.transaction((tx) => outbox.add(drizzleTx(tx), event('drizzle')))
// #endregion drizzle

// #region knex
const knex = createKnex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 2 } })
await knex.transaction((trx) => outbox.add(knexTx(trx), event('knex')))
// A rolled-back transaction publishes nothing.
await knex
  .transaction(async (trx) => {
    await outbox.add(knexTx(trx), event('rolled-back'))
    throw new Error('rollback')
  })
  .catch(() => undefined)
// #endregion knex

// #region commit-lsn
// The commit LSN of your own write, for cache.invalidate(key, { lsn }) (C4): exact on node-postgres.
const { lsn } = await withCommitLsn(pool, (c) => c.query('SELECT 1'))
console.log(`committed at ${lsn}`)
// #endregion commit-lsn

const broker = createMemoryBroker()
const published: string[] = []
const relay = createRelay({
  shards,
  broker,
  onPublished: (events) => published.push(...events.map((e) => `${(e.payload as { orm: string }).orm}`)),
})
await relay.start()
const deadline = Date.now() + 10_000
while (published.length < 4) {
  if (Date.now() > deadline) throw new Error(`published only ${published.join(', ')}`)
  await new Promise((resolve) => setTimeout(resolve, 20))
}
console.log(`published: ${published.sort().join(', ')}`)
await relay.close()
await broker.close()
await shards.close() // lets go of the LISTEN connection; the pool stays the application's
await knex.destroy()
await kysely.destroy() // Kysely's PostgresDialect ends the pool it was given
