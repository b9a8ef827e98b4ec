import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/cache/index.js'
import {
  type ChangeFeed,
  type ChangeFeedOptions,
  createChangeFeed,
  FeedSlotBusyError,
  FeedSlotMissingError,
  FeedUnavailableError,
} from '../../src/pg/index.js'
import { createChangeFeed as createPgliteChangeFeed } from '../../src/pglite/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// The change feed on the shared PostgreSQL primary (wal_level = logical): plain-SQL writes, made outside the
// application, reach every instance's L1 and L2 through the WAL.
let url: string
let sql: pg.Pool
const prefix = `${uniqueName('feed')}:`
const caches: Cache<string>[] = []
const feeds: ChangeFeed[] = []

/** One service instance's cache: its own L1, the shared Redis L2 and bus. */
function instanceCache(): Cache<string> {
  const { url: redisUrl } = sharedServices().redis
  const cache = createCache<string>({
    name: 'products',
    l2: createRedisTier({ url: redisUrl, prefix }),
    bus: createRedisBus({ url: redisUrl, prefix }),
  })
  caches.push(cache)
  return cache
}

function feed(slot: string, extra: Partial<ChangeFeedOptions> = {}): ChangeFeed {
  const f = createChangeFeed({
    connectionString: url,
    slot,
    tables: { products: { cache: 'products', keys: (row) => [`product:${row.id}`] } },
    caches: { products: caches[0]! },
    retryInterval: '100ms',
    onError: () => {},
    ...extra,
  })
  feeds.push(f)
  return f
}

const setName = async (id: string, name: string): Promise<string> => {
  const client = await sql.connect()
  try {
    await client.query('UPDATE products SET name = $2 WHERE id = $1', [id, name])
    // Read after COMMIT on the same connection: at or past the commit's end (what the feed acknowledges).
    return (await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn
  } finally {
    client.release()
  }
}
const fill = (cache: Cache<string>, id: string) =>
  cache.getOrLoad(`product:${id}`, async () => {
    const { rows } = await sql.query<{ name: string }>('SELECT name FROM products WHERE id = $1', [id])
    return rows[0]!.name
  })

beforeAll(async () => {
  const db = await sharedServices().postgres.createDatabase('feed')
  url = db.primaryUrl
  sql = new pg.Pool({ connectionString: url, max: 3 })
  await sql.query('CREATE TABLE products (id text PRIMARY KEY, name text NOT NULL)')
  await sql.query(`INSERT INTO products VALUES ('p1', 'one'), ('p2', 'two'), ('p3', 'three')`)
  instanceCache()
  instanceCache()
})
afterAll(async () => {
  for (const f of feeds) await f.drop().catch(() => {})
  await Promise.all(caches.map((c) => c.close()))
  await sql?.end()
})

describe('change feed on PostgreSQL', () => {
  it('evicts a plain-SQL update from the L1 of every instance, with the commit LSN in L2', async () => {
    const [a, b] = caches as [Cache<string>, Cache<string>]
    const f = feed(uniqueName('slot_a').toLowerCase())
    await f.start()
    expect(await fill(a, 'p1')).toBe('one')
    expect(await fill(b, 'p1')).toBe('one')
    expect(a.hasLocal('product:p1') && b.hasLocal('product:p1')).toBe(true)

    const lsn = await setName('p1', 'uno')
    await waitFor(() => !a.hasLocal('product:p1') && !b.hasLocal('product:p1'), { what: 'both L1 evicted' })
    const l2 = (await a.inspect('product:p1')).l2
    expect(l2?.value).toBeUndefined()
    expect(l2?.lsn).toBeDefined()
    expect(lsnBig(l2!.lsn!)).toBeLessThanOrEqual(lsnBig(lsn))
    expect(await fill(b, 'p1')).toBe('uno')

    const status = await waitFor(async () => {
      const s = await f.status()
      return s.transactions >= 1 && s.confirmedLsn && lsnBig(s.confirmedLsn) >= lsnBig(l2!.lsn!)
        ? s
        : undefined
    })
    expect(status.state).toBe('streaming')
    expect(status.slotActive).toBe(true)
    expect(status.invalidated).toBeGreaterThanOrEqual(1)
    await f.close()
  })

  it('resumes from its slot after a restart: a change made while it was down is applied', async () => {
    const [a, b] = caches as [Cache<string>, Cache<string>]
    const slot = uniqueName('slot_r').toLowerCase()
    const first = feed(slot)
    await first.start()
    await first.close()

    await setName('p2', 'dos')
    await waitFor(async () => (await fill(a, 'p2')) === 'dos' && (await fill(b, 'p2')) === 'dos')
    // Stale copies, as if an instance had read before the write: only the feed can know to evict them.
    await a.set('product:p2', 'two')
    // The set's own bus message may reach B after B's first refill: fill again until both hold a copy.
    await waitFor(
      async () => (await fill(b, 'p2')) === 'two' && a.hasLocal('product:p2') && b.hasLocal('product:p2'),
      {
        what: 'stale copies in both instances',
      },
    )

    // While down, the slot retains the change: lag in bytes, no consumer.
    const idle = await feed(slot).status()
    expect(idle.slotExists).toBe(true)
    expect(idle.slotActive).toBe(false)
    expect(idle.lagBytes).toBeGreaterThan(0)

    const second = feed(slot)
    await second.start()
    await waitFor(() => !a.hasLocal('product:p2') && !b.hasLocal('product:p2'), { what: 'replayed eviction' })
    const after = await waitFor(async () => {
      const s = await second.status()
      return s.transactions >= 1 && s.confirmedLsn !== idle.confirmedLsn ? s : undefined
    })
    // The slot moved past the change it had retained (lag in bytes depends on the shared server's other WAL).
    expect(lsnBig(after.confirmedLsn!)).toBeGreaterThan(lsnBig(idle.confirmedLsn!))
    expect(lsnBig(after.confirmedLsn!)).toBeGreaterThanOrEqual(lsnBig(after.appliedLsn!))
    await second.close()
  })

  it('skips keys the writer already invalidated at or past the commit (dedup by key and LSN)', async () => {
    const [a] = caches as [Cache<string>]
    let release!: () => void
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const f = feed(uniqueName('slot_d').toLowerCase(), { beforeApply: () => gate })
    await f.start()
    const lsn = await setName('p3', 'tres')
    // The writer's own synchronous invalidation, with its commit LSN, lands before the feed applies.
    await a.invalidate('product:p3', { lsn })
    release()
    const status = await waitFor(async () => {
      const s = await f.status()
      return s.transactions >= 1 ? s : undefined
    })
    expect(status.deduped).toBe(1)
    expect(status.invalidated).toBe(0)
    await f.close()
  })

  it('lets one consumer hold a slot: a second waits with a typed error and takes over', async () => {
    const slot = uniqueName('slot_b').toLowerCase()
    const errors: unknown[] = []
    const first = feed(slot)
    await first.start()
    const second = feed(slot, { onError: (error) => errors.push(error) })
    await second.start()
    expect((await second.status()).state).toBe('waiting')
    expect(errors.some((e) => e instanceof FeedSlotBusyError)).toBe(true)
    await first.close()
    await waitFor(async () => (await second.status()).state === 'streaming', { what: 'takeover' })

    const [a] = caches as [Cache<string>]
    await fill(a, 'p1')
    await setName('p1', 'eins')
    await waitFor(() => !a.hasLocal('product:p1'), { what: 'eviction after takeover' })
    await second.drop()
    expect((await feed(slot).status()).slotExists).toBe(false)
  })

  it('reports a slot lost under it (as after a failover) instead of silently recreating it', async () => {
    const slot = uniqueName('slot_m').toLowerCase()
    const errors: unknown[] = []
    const f = feed(slot, { onError: (error) => errors.push(error) })
    await f.start()
    // What a failover to a replica looks like to the feed: the server it reconnects to has no such slot.
    await waitFor(
      async () => {
        await sql.query(
          'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active',
          [slot],
        )
        await sql.query('SELECT pg_drop_replication_slot($1)', [slot])
        return true
      },
      { what: 'slot dropped' },
    )
    await waitFor(async () => (await f.status()).state === 'slot-missing', { what: 'slot-missing state' })
    expect(errors.some((e) => e instanceof FeedSlotMissingError)).toBe(true)
    expect((await f.status()).slotExists).toBe(false)
    await f.close()
    // A new feed told not to create one fails at start with the same typed error.
    await expect(feed(slot, { createSlot: false }).start()).rejects.toBeInstanceOf(FeedSlotMissingError)
  })

  it('is unavailable on PGlite with a typed error', () => {
    expect(() => createPgliteChangeFeed()).toThrow(FeedUnavailableError)
  })
})

function lsnBig(lsn: string): bigint {
  const [high, low] = lsn.split('/')
  return (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`)
}
