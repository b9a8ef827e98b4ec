import { describe, expect, it } from 'vitest'
import { createShardMap, createShards } from '../../src/db/index.js'
import { orderMigrations } from '../../src/db/migrations.js'
import { InvalidInputError, InvalidOptionsError } from '../../src/errors.js'
import { createPgNode } from '../../src/pg/index.js'
import { createPgliteNode } from '../../src/pglite/index.js'

describe('db options and input', () => {
  it('names the bad option of createShards', () => {
    const attempt = (options: unknown) => {
      try {
        createShards(options as never)
      } catch (error) {
        return error
      }
      return null
    }
    expect(attempt({ shards: [] })).toMatchObject({
      code: 'E_INVALID_OPTIONS',
      context: { option: 'shards' },
    })
    expect(attempt({ shards: [{ primary: { query: 1 } }] })).toMatchObject({
      context: { option: 'shards.0.primary' },
    })
    // A shard is its primary (and replicas), or its nodes whose roles are found: one of the two.
    expect(attempt({ shards: [{ replicas: [] }] })).toMatchObject({ code: 'E_INVALID_OPTIONS' })
    // Only option parsing is under test: a node that is never queried.
    const never = () => Promise.reject(new Error('not used'))
    const node = {
      kind: 'stub',
      name: 'stub',
      query: never,
      session: never,
      transaction: never,
      listen: never,
      close: async () => {},
    }
    expect(attempt({ shards: [{ primary: node }], retry: { attempts: 0 } })).toMatchObject({
      context: { option: 'retry.attempts', value: 0 },
    })
    expect(attempt({ shards: [{ primary: node }], healthInterval: 'soon' })).toBeInstanceOf(
      InvalidOptionsError,
    )
    // A map over more shards than configured would send keys nowhere.
    expect(attempt({ shards: [{ primary: node }], map: createShardMap({ shards: 2 }) })).toMatchObject({
      code: 'E_SHARD_NOT_FOUND',
    })
  })

  it('names the bad option of the node adapters', () => {
    expect(() => createPgNode({ connectionString: 'postgres://x/db', max: 0 })).toThrow(/createPgNode.*max/)
    expect(() => createPgNode({ connectionString: 'postgres://x/db', connectTimeout: 'a while' })).toThrow(
      InvalidOptionsError,
    )
    expect(() => createPgliteNode({ dataDir: '' })).toThrow(InvalidOptionsError)
  })

  it('names a node by host, port and database, never by its password', () => {
    const node = createPgNode({ connectionString: 'postgres://app:secret@db1.internal:6432/shop' })
    expect(node.name).toBe('db1.internal:6432/shop')
    void node.close()
  })

  it('orders migrations by module of first appearance, then version', () => {
    const m = (module: string, version: number) => ({
      module,
      version,
      name: `${module}${version}`,
      sql: 'SELECT 1',
    })
    const ordered = orderMigrations([
      m('outbox', 2),
      m('shop', 1),
      m('outbox', 1),
      m('shop', 3),
      m('saga', 1),
    ])
    expect(ordered.map((x) => `${x.module}@${x.version}`)).toEqual([
      'outbox@1',
      'outbox@2',
      'shop@1',
      'shop@3',
      'saga@1',
    ])
    expect(() => orderMigrations([m('outbox', 1), m('outbox', 1)])).toThrow(InvalidInputError)
    expect(() => orderMigrations([m('', 1)])).toThrow(InvalidInputError)
    expect(() => orderMigrations([{ ...m('x', 1), sql: '  ' }])).toThrow(/no SQL/)
  })
})
