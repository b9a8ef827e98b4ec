import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache/index.js'
import { type ChangeFeed, createChangeFeed } from '../../src/pg/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import { spawnSupportChild } from '../support/outbox-spawn.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// At least once: a feed process killed (SIGKILL) after receiving a change and before applying and acknowledging
// it leaves the slot where it was; the next consumer of the slot replays the change and every copy is evicted.
let url: string
let sql: pg.Pool
const prefix = `${uniqueName('feedkill')}:`
const slot = uniqueName('slot_k').toLowerCase()
const caches: Cache<string>[] = []
let feed: ChangeFeed | undefined

const instanceCache = () => {
  const { url: redisUrl } = sharedServices().redis
  const cache = createCache<string>({
    name: 'products',
    l2: createRedisTier({ url: redisUrl, prefix }),
    bus: createRedisBus({ url: redisUrl, prefix }),
  })
  caches.push(cache)
  return cache
}
const fill = (cache: Cache<string>) =>
  cache.getOrLoad('product:p1', async () => {
    const { rows } = await sql.query<{ name: string }>(`SELECT name FROM products WHERE id = 'p1'`)
    return rows[0]!.name
  })
const confirmed = async () =>
  (
    await sql.query<{ lsn: string }>(
      'SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    )
  ).rows[0]!.lsn

beforeAll(async () => {
  const db = await sharedServices().postgres.createDatabase('feedkill')
  url = db.primaryUrl
  sql = new pg.Pool({ connectionString: url, max: 2 })
  await sql.query('CREATE TABLE products (id text PRIMARY KEY, name text NOT NULL)')
  await sql.query(`INSERT INTO products VALUES ('p1', 'one')`)
  instanceCache()
  instanceCache()
})
afterAll(async () => {
  await feed?.drop().catch(() => {})
  await Promise.all(caches.map((c) => c.close()))
  await sql?.end()
})

describe('change feed killed between receiving and acknowledging', () => {
  it('misses nothing: the next consumer of the slot replays the change', async () => {
    const [a, b] = caches as [Cache<string>, Cache<string>]
    const { child, killed } = await spawnSupportChild(
      'feed-child.ts',
      ['hang'],
      {
        FEED_PG_URL: url,
        FEED_SLOT: slot,
        FEED_REDIS_URL: sharedServices().redis.url,
        FEED_CACHE_PREFIX: prefix,
      },
      /^streaming$/,
      40_000,
    )
    const before = await confirmed()
    expect(await fill(a)).toBe('one')
    expect(await fill(b)).toBe('one')

    // A listener on the child's output from here on: the batch it received.
    const received = new Promise<string>((resolve) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        const match = /received (\S+)/.exec(chunk.toString('utf8'))
        if (match) resolve(match[1]!)
      })
    })
    await sql.query(`UPDATE products SET name = 'uno' WHERE id = 'p1'`)
    const lsn = await received
    child.kill('SIGKILL')
    await killed

    // Nothing was applied nor acknowledged: both copies are stale and the slot did not move past the change.
    expect(a.hasLocal('product:p1') && b.hasLocal('product:p1')).toBe(true)
    expect(await confirmed()).toBe(before)

    feed = createChangeFeed({
      connectionString: url,
      slot,
      createSlot: false,
      tables: { products: { cache: 'products', keys: (row) => [`product:${row.id}`] } },
      caches: { products: a },
      retryInterval: '100ms',
      onError: () => {},
    })
    await feed.start()
    await waitFor(() => !a.hasLocal('product:p1') && !b.hasLocal('product:p1'), {
      what: 'replayed eviction in both instances',
      timeoutMs: 20_000,
    })
    expect(await fill(b)).toBe('uno')
    const status = await waitFor(async () => {
      const s = await feed!.status()
      return s.appliedLsn === lsn ? s : undefined
    })
    expect(status.state).toBe('streaming')
  })
})
