import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { newEventId } from '../../src/broker/index.js'
import {
  type Connection,
  createShards,
  MigrationsMissingError,
  migrationScript,
  NotATransactionError,
  type Shards,
  withCommitLsn,
} from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import {
  createInbox,
  createOutbox,
  type EventDeadLetteredError,
  type HandlerFailedError,
  InvalidTopicError,
  outboxMigrations,
} from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { createSqlSagaLog, sagaSqlFromShards } from '../../src/saga/index.js'
import { sharedServices } from '../support/services/index.js'

const event = (id: string) => ({
  aggregateType: 'item',
  aggregateId: id,
  aggregateVersion: 1,
  type: 'ItemAdded',
  payload: { id },
})

describe('own database layer: node-postgres directly', () => {
  let url: string
  let pool: pg.Pool
  let shards: Shards
  const outbox = createOutbox()

  beforeAll(async () => {
    url = (await sharedServices().postgres.createDatabase('own_pg')).primaryUrl
    pool = new pg.Pool({ connectionString: url, max: 3, application_name: 'own-pg-app' })
    shards = createShards({ primary: createPgNode({ pool }) })
    await shards.migrate(outboxMigrations)
    await pool.query('CREATE TABLE items (id int PRIMARY KEY)')
  })

  afterAll(async () => {
    await shards?.close()
    await pool?.end()
  })

  /** BEGIN ... COMMIT (or ROLLBACK when `fn` throws) on one PoolClient of the application's pool. */
  async function inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      await client.query('ROLLBACK')
      throw error
    } finally {
      client.release()
    }
  }

  it('outbox.add takes a PoolClient inside BEGIN, with its prepared statement, and commits with it', async () => {
    // Compile-time: node-postgres' clients are concord Connections as they are.
    const asConnection: (client: pg.PoolClient | pg.Client) => Connection = (client) => client
    expect(asConnection).toBeTypeOf('function')
    const [added] = await inTransaction(async (client) => {
      await client.query('INSERT INTO items VALUES (1)')
      const envelopes = await outbox.add(client, event('p1'))
      const { rows } = await client.query(
        "SELECT 1 FROM pg_prepared_statements WHERE name = 'concord_outbox_add_1n'",
      )
      expect(rows).toHaveLength(1)
      return envelopes
    })
    const { rows } = await pool.query<{ id: string }>('SELECT id::text FROM concord_outbox')
    expect(rows.map((r) => r.id)).toEqual([added!.id])
    await expect(
      inTransaction(async (client) => {
        await outbox.add(client, event('p2'))
        throw new Error('rolled back')
      }),
    ).rejects.toThrow('rolled back')
    expect((await pool.query('SELECT count(*)::int AS n FROM concord_outbox')).rows).toEqual([{ n: 1 }])
    await pool.query('DELETE FROM concord_outbox')
  })

  it('refuses a Pool at compile time and at run time, and a client outside a transaction, writing nothing', async () => {
    // @ts-expect-error a pg.Pool is not one connection inside a transaction
    await expect(outbox.add(pool, event('x'))).rejects.toBeInstanceOf(NotATransactionError)
    const client = await pool.connect()
    try {
      await expect(outbox.add(client, event('y'))).rejects.toMatchObject({
        code: 'E_NOT_A_TRANSACTION',
        context: { got: 'idle client' },
      })
    } finally {
      client.release()
    }
    expect((await pool.query('SELECT count(*)::int AS n FROM concord_outbox')).rows).toEqual([{ n: 0 }])
  })

  it('runs concord on the application pool: no second pool, and one connection held for LISTEN', async () => {
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name <> 'own-pg-app' AND backend_type = 'client backend'",
    )
    expect(rows).toEqual([{ n: 0 }])
    const heard: string[] = []
    const unlisten = await shards.listen(0, 'own_pg_channel', (payload) => heard.push(payload))
    try {
      expect(pool.totalCount).toBeGreaterThan(0)
      await pool.query("SELECT pg_notify('own_pg_channel', 'hello')")
      await expect.poll(() => heard, { timeout: 10_000 }).toEqual(['hello'])
    } finally {
      await unlisten()
    }
  })

  it('withCommitLsn returns the commit LSN read on the same connection after COMMIT', async () => {
    const before = (await pool.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!
      .lsn
    const { result, lsn } = await withCommitLsn(pool, async (client) => {
      await client.query('INSERT INTO items VALUES (2)')
      return client.getTransactionStatus()
    })
    expect(result).toBe('T')
    const { rows } = await pool.query<{ ok: boolean; there: boolean }>(
      'SELECT $1::pg_lsn > $2::pg_lsn AS ok, EXISTS (SELECT 1 FROM items WHERE id = 2) AS there',
      [lsn, before],
    )
    expect(rows).toEqual([{ ok: true, there: true }])
    await expect(
      withCommitLsn(pool, async (client) => {
        await client.query('INSERT INTO items VALUES (3)')
        throw new Error('no')
      }),
    ).rejects.toThrow('no')
    expect((await pool.query('SELECT 1 FROM items WHERE id = 3')).rowCount).toBe(0)
  })

  it('inbox.handleIn on a PoolClient: reports each failed attempt and the dead-lettering through onError', async () => {
    const reports: (HandlerFailedError | EventDeadLetteredError)[] = []
    const inbox = createInbox({ shards, consumer: 'own-pg', maxAttempts: 2, onError: (e) => reports.push(e) })
    const [envelope] = await inTransaction((client) => outbox.add(client, event('h1')))
    const failing = () =>
      inTransaction((client) =>
        inbox.handleIn(client, envelope, async () => {
          await client.query('INSERT INTO items VALUES (100)')
          throw new Error('downstream refused')
        }),
      )
    await expect(failing()).rejects.toThrow('downstream refused')
    expect(await failing()).toMatchObject({ status: 'dead-lettered' })
    expect(reports.map((r) => [r.code, r.eventId, r.attempt])).toEqual([
      ['E_HANDLER_FAILED', envelope!.id, 1],
      ['E_HANDLER_FAILED', envelope!.id, 2],
      ['E_EVENT_DEAD_LETTERED', envelope!.id, 2],
    ])
    expect((reports[0]!.cause as Error).message).toBe('downstream refused')
    expect((await pool.query('SELECT 1 FROM items WHERE id = 100')).rowCount).toBe(0)
    expect((await inbox.deadLetters()).map((d) => d.eventId)).toEqual([envelope!.id])
    // The dead letter is the dedup record: a redelivery does nothing.
    expect(await inTransaction((client) => inbox.handleIn(client, envelope, async () => 'ran'))).toEqual({
      status: 'duplicate',
    })
  })

  it('names the migration set when its tables are missing, and migrationScript applies it with any tool', async () => {
    const fresh = (await sharedServices().postgres.createDatabase('own_pg_fresh')).primaryUrl
    const other = new pg.Pool({ connectionString: fresh, max: 2 })
    const db = createShards({ primary: createPgNode({ pool: other }) })
    try {
      const add = inTransactionOn(other, (client) => outbox.add(client, event('m1')))
      await expect(add).rejects.toBeInstanceOf(MigrationsMissingError)
      await expect(add).rejects.toThrow(
        /concord_outbox.*outboxMigrations.*shards\.migrate\(outboxMigrations\)/,
      )
      const log = createSqlSagaLog({ db: sagaSqlFromShards(db) })
      await expect(log.get('00000000-0000-0000-0000-000000000000')).rejects.toMatchObject({
        code: 'E_MIGRATIONS_MISSING',
        context: { migrations: 'sagaMigrations', table: 'concord_saga' },
      })
      // A team's own migration tool runs the script; concord's migrate then finds it applied.
      await other.query(migrationScript(outboxMigrations))
      expect(await db.migrate(outboxMigrations)).toEqual([{ shard: 0, applied: [] }])
      await inTransactionOn(other, (client) => outbox.add(client, event('m2')))
    } finally {
      await db.close()
      await other.end()
    }
  })

  it('names aggregateType or topicFor in a topic error, writing nothing', async () => {
    const bad = { ...event('t1'), aggregateType: 'order.placed' }
    await expect(inTransaction((client) => outbox.add(client, bad))).rejects.toThrow(
      /topic "order\.placed".*aggregateType.*topicFor/,
    )
    const mapped = createOutbox({ topicFor: () => 'no spaces allowed' })
    await expect(inTransaction((client) => mapped.add(client, event('t2')))).rejects.toMatchObject({
      code: 'E_INVALID_TOPIC',
      context: { source: 'topicFor', topic: 'no spaces allowed' },
    })
    await expect(inTransaction((client) => outbox.add(client, bad))).rejects.toBeInstanceOf(InvalidTopicError)
  })

  it('names the server and the cause when the broker is unavailable', async () => {
    const broker = createNatsBroker({
      servers: 'nats://127.0.0.1:1',
      publishTimeout: '300ms',
      reconnectWait: '100ms',
    })
    try {
      const envelope = { ...event('n1'), id: newEventId(), createdAt: new Date().toISOString(), headers: {} }
      const failure = await broker.publish('item', [envelope]).then(
        () => undefined,
        (error: unknown) => error,
      )
      expect(failure).toMatchObject({
        code: 'E_BROKER_UNAVAILABLE',
        context: { server: 'nats://127.0.0.1:1' },
      })
      expect((failure as Error).message).toMatch(
        /nats broker at nats:\/\/127\.0\.0\.1:1 unavailable during publish: \S+/,
      )
    } finally {
      await broker.close()
    }
  })

  async function inTransactionOn<T>(p: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await p.connect()
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      await client.query('ROLLBACK')
      throw error
    } finally {
      client.release()
    }
  }
})
