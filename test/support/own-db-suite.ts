import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventEnvelope } from '../../src/broker/index.js'
import {
  type Connection,
  createShards,
  NotATransactionError,
  readCommitLsn,
  type Shards,
} from '../../src/db/index.js'
import { createMemoryBroker } from '../../src/memory/index.js'
import {
  applyIfNewer,
  createInbox,
  createOutbox,
  createRelay,
  outboxMigrations,
} from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { once, sagaMigrations } from '../../src/saga/index.js'
import { sharedServices } from './services/index.js'
import { waitFor } from './wait.js'

/** One ORM's transaction, seen through its concord adapter. */
export interface OrmSession {
  /** Runs `fn` in the ORM's transaction: `conn` is the adapter, `insertItem` writes a business row through the ORM. */
  transaction<T>(fn: (conn: Connection, insertItem: (id: number) => Promise<void>) => Promise<T>): Promise<T>
  /** The adapter applied to something that is not a transaction (the ORM's database handle). */
  adaptNonTransaction(): unknown
  close(): Promise<void>
}

export interface OrmTarget {
  name: string
  open(pool: pg.Pool, url: string): Promise<OrmSession>
}

/**
 * What every ORM adapter must do on real PostgreSQL: events added in a rolled-back transaction are never
 * published, a committed one's are published exactly, and the inbox, projections and saga participants
 * write in the ORM's transaction.
 */
export function ownDbSuite(target: OrmTarget): void {
  describe(`own database layer: ${target.name}`, () => {
    let pool: pg.Pool
    let shards: Shards
    let orm: OrmSession
    const broker = createMemoryBroker()
    const outbox = createOutbox()
    const received: EventEnvelope[] = []

    beforeAll(async () => {
      const db = await sharedServices().postgres.createDatabase(`own_${target.name}`)
      pool = new pg.Pool({ connectionString: db.primaryUrl, max: 4 })
      // The application's pool is concord's too: no second pool.
      shards = createShards({ primary: createPgNode({ pool }) })
      await shards.migrate([...outboxMigrations, ...sagaMigrations])
      await pool.query('CREATE TABLE items (id int PRIMARY KEY)')
      await pool.query(
        'CREATE TABLE item_view (id int PRIMARY KEY, version int NOT NULL, name text NOT NULL)',
      )
      orm = await target.open(pool, db.primaryUrl)
      await broker.subscribe('item', 'items-test', async (event) => {
        received.push(event)
      })
    })

    afterAll(async () => {
      await orm?.close()
      await shards?.close()
      await broker.close()
      await pool?.end()
    })

    const event = (id: string, version = 1) => ({
      aggregateType: 'item',
      aggregateId: id,
      aggregateVersion: version,
      type: 'ItemAdded',
      payload: { id },
    })
    const outboxIds = async () =>
      (await pool.query<{ id: string }>('SELECT id::text FROM concord_outbox')).rows.map((r) => r.id)

    it('publishes nothing for a rolled-back transaction and exactly the events of a committed one', async () => {
      const rolledBack: string[] = []
      await expect(
        orm.transaction(async (conn, insertItem) => {
          await insertItem(1)
          const added = await outbox.add(conn, [event('a1'), event('a2')])
          rolledBack.push(...added.map((e) => e.id))
          throw new Error('business rule failed')
        }),
      ).rejects.toThrow('business rule failed')
      expect(rolledBack).toHaveLength(2)
      expect((await pool.query('SELECT 1 FROM items WHERE id = 1')).rowCount).toBe(0)
      expect(await outboxIds()).toEqual([])

      const committed = await orm.transaction(async (conn, insertItem) => {
        await insertItem(2)
        return outbox.add(conn, [event('b1'), event('b2', 1), event('b1', 2)])
      })
      expect((await pool.query('SELECT 1 FROM items WHERE id = 2')).rowCount).toBe(1)
      expect((await outboxIds()).sort()).toEqual(committed.map((e) => e.id).sort())

      const relay = createRelay({ shards, broker, id: `relay-${target.name}` })
      await relay.start()
      try {
        await waitFor(async () => received.length >= 3 && (await outboxIds()).length === 0, {
          what: 'the committed events published',
        })
      } finally {
        await relay.close()
      }
      expect(received.map((e) => e.id).sort()).toEqual(committed.map((e) => e.id).sort())
      expect(received.some((e) => rolledBack.includes(e.id))).toBe(false)
    })

    it('handleIn: the dedup record and the effect commit with the ORM transaction, once', async () => {
      const inbox = createInbox({ shards, consumer: `c-${target.name}` })
      const [envelope] = await orm.transaction((conn) => outbox.add(conn, event('h1')))
      const handle = () =>
        orm.transaction((conn, insertItem) => inbox.handleIn(conn, envelope, async () => insertItem(10)))
      expect(await handle()).toEqual({ status: 'processed', result: undefined })
      expect(await handle()).toEqual({ status: 'duplicate' })
      expect((await pool.query('SELECT 1 FROM items WHERE id = 10')).rowCount).toBe(1)
      await pool.query('DELETE FROM concord_outbox')
    })

    it('applyIfNewer and once write in the ORM transaction', async () => {
      const apply = (version: number, name: string) =>
        orm.transaction((conn) =>
          applyIfNewer(conn, { table: 'item_view', key: { id: 1 }, version, values: { name } }),
        )
      expect(await apply(2, 'two')).toBe(true)
      expect(await apply(1, 'one')).toBe(false)
      expect((await pool.query('SELECT name FROM item_view WHERE id = 1')).rows).toEqual([{ name: 'two' }])
      let runs = 0
      const step = () =>
        orm.transaction((conn) =>
          once(conn, `own-${target.name}-step`, async () => {
            runs++
            return { reserved: 3 }
          }),
        )
      expect(await step()).toEqual({ reserved: 3 })
      expect(await step()).toEqual({ reserved: 3 })
      expect(runs).toBe(1)
    })

    it('reads a commit LSN through the adapter after the transaction', async () => {
      const before = (await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!
        .lsn
      await orm.transaction((conn, insertItem) => insertItem(20).then(() => conn))
      const lsn = await readCommitLsn(pool)
      // The adapter committed (a rolled-back insert also writes WAL, so the LSN alone would not tell).
      expect((await pool.query('SELECT 1 FROM items WHERE id = 20')).rowCount).toBe(1)
      const { rows } = await pool.query<{ after: boolean }>('SELECT $1::pg_lsn > $2::pg_lsn AS after', [
        lsn,
        before,
      ])
      expect(rows[0]!.after).toBe(true)
    })

    it('refuses what is not a transaction', () => {
      expect(() => orm.adaptNonTransaction()).toThrow(NotATransactionError)
    })
  })
}
