import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { assertConnection } from '../../src/db/connection.js'
import { explainMissingTable, MigrationsMissingError, NotATransactionError } from '../../src/db/errors.js'
import { createShards, migrationScript } from '../../src/db/index.js'
import { splitPlaceholders } from '../../src/db/placeholders.js'
import { InvalidOptionsError } from '../../src/errors.js'
import { duration, parseOptions } from '../../src/options.js'
import { createOutbox } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'

const query = async () => ({ rows: [], rowCount: 0 })

describe('assertConnection', () => {
  it('refuses a pool, an idle node-postgres client and a value with no query', () => {
    const pool = { query, connect: async () => ({}), totalCount: 0 }
    expect(() => assertConnection(pool, 'outbox.add')).toThrow(NotATransactionError)
    expect(() => assertConnection(pool, 'outbox.add')).toThrow(
      /outbox\.add.*got a pool.*pool\.connect\(\) after BEGIN/,
    )
    const idle = { query, getTransactionStatus: () => 'I' }
    expect(() => assertConnection(idle, 'once')).toThrow(
      expect.objectContaining({ context: { where: 'once', got: 'idle client' } }),
    )
    expect(() => assertConnection({}, 'x')).toThrow(expect.objectContaining({ code: 'E_NOT_A_TRANSACTION' }))
  })

  it('passes a client inside a transaction (or a failed one) and Queryables it cannot ask', () => {
    for (const status of ['T', 'E']) {
      expect(() => assertConnection({ query, getTransactionStatus: () => status }, 'x')).not.toThrow()
    }
    expect(() => assertConnection({ query, shard: 0, afterCommit() {} }, 'x')).not.toThrow()
  })

  it('checks before the outbox writes anything', async () => {
    let statements = 0
    const pool = {
      query: async () => ({ rows: [], rowCount: statements++ }),
      connect: async () => ({}),
      totalCount: 1,
    }
    const event = { aggregateType: 'item', aggregateId: '1', aggregateVersion: 1, type: 'T', payload: {} }
    // @ts-expect-error a pool is refused at compile time too
    await expect(createOutbox().add(pool, event)).rejects.toBeInstanceOf(NotATransactionError)
    expect(statements).toBe(0)
  })
})

describe('explainMissingTable', () => {
  it('names the migration set of a missing concord table, and leaves other errors alone', () => {
    const missing = Object.assign(new Error('relation "concord_inbox_attempts" does not exist'), {
      code: '42P01',
    })
    const explained = explainMissingTable(missing)
    expect(explained).toBeInstanceOf(MigrationsMissingError)
    expect(explained).toMatchObject({
      code: 'E_MIGRATIONS_MISSING',
      context: { table: 'concord_inbox_attempts', migrations: 'outboxMigrations', from: 'concord/outbox' },
      cause: missing,
    })
    expect((explained as Error).message).toMatch(
      /shards\.migrate\(outboxMigrations\).*migrationScript\(outboxMigrations\)/,
    )
    const saga = Object.assign(new Error('relation "public.concord_saga_effect" does not exist'), {
      code: '42P01',
    })
    expect(explainMissingTable(saga)).toMatchObject({ context: { migrations: 'sagaMigrations' } })
    const theirs = Object.assign(new Error('relation "orders" does not exist'), { code: '42P01' })
    expect(explainMissingTable(theirs)).toBe(theirs)
  })
})

describe('migrationScript', () => {
  it("prints each migration's SQL followed by its concord_migrations row, in order", () => {
    const script = migrationScript([
      { module: 'demo', version: 2, name: "second's", sql: 'ALTER TABLE t ADD c int;' },
      { module: 'demo', version: 1, name: 'first', sql: 'CREATE TABLE t (id int);' },
    ])
    expect(script.indexOf('CREATE TABLE IF NOT EXISTS concord_migrations')).toBe(0)
    expect(script.indexOf('CREATE TABLE t')).toBeLessThan(script.indexOf('ALTER TABLE t'))
    expect(script).toMatch(/VALUES \('demo', 2, 'second''s', '[0-9a-f]{64}'\) ON CONFLICT DO NOTHING;/)
  })
})

describe('splitPlaceholders', () => {
  it('splits $n text into SQL parts and zero-based value indexes, repeats included', () => {
    expect(splitPlaceholders('SELECT $1, $2::json WHERE a = $1')).toEqual({
      parts: ['SELECT ', ', ', '::json WHERE a = ', ''],
      indexes: [0, 1, 0],
    })
  })
})

describe('duration options', () => {
  it('lists the accepted formats when a duration is wrong', () => {
    const schema = z.object({ timeout: duration })
    for (const bad of ['5 sec', '10', -1, {}]) {
      let error: unknown
      try {
        parseOptions('createThing', schema, { timeout: bad })
      } catch (e) {
        error = e
      }
      expect(error).toBeInstanceOf(InvalidOptionsError)
      expect((error as Error).message).toMatch(
        /timeout: a duration: milliseconds as a number .*'250ms', '30s', '5m', '1h', '1d'/,
      )
    }
  })
})

describe('one database on the application pool', () => {
  it('createShards({ primary }) is one shard every key maps to; shards and primary together are refused', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })
    const node = createPgNode({ pool })
    const shards = createShards({ primary: node, healthInterval: '1h' })
    try {
      expect(shards.count).toBe(1)
      expect(['a', 'b', 42].map((k) => shards.shardFor(k))).toEqual([0, 0, 0])
      expect(node.name).toBe('127.0.0.1:1/none')
      expect(() => createShards({ primary: node, shards: [{ primary: node }] } as never)).toThrow(/not both/)
    } finally {
      await shards.close()
    }
    // The application's pool stays open: its owner ends it.
    expect(pool.ending).toBe(false)
    await pool.end()
  })

  it('createPgNode refuses a pool together with connection settings', () => {
    const pool = new pg.Pool()
    expect(() => createPgNode({ pool, host: 'db' })).toThrow(InvalidOptionsError)
    expect(() => createPgNode({ pool, host: 'db' })).toThrow(
      /host: give a pool or connection settings, not both/,
    )
    return pool.end()
  })
})
