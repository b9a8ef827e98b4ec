/**
 * The WAL feed guide (docs/guides/wal-feed.md): writes made outside the application (plain SQL, as in psql) reach
 * the caches through PostgreSQL's WAL, and order changes become events. Needs a primary with wal_level = logical
 * and a role with REPLICATION (DATABASE_URL), and Redis (REDIS_URL: L2, bus and Redis Streams broker).
 * Run: DATABASE_URL=postgres://... REDIS_URL=redis://... node --import tsx --conditions=source \
 *   docs/snippets/guides/wal-feed/feed.ts
 */
import type { EventEnvelope } from 'concord/broker'
import { type Cache, createCache } from 'concord/cache'
import { createChangeFeed } from 'concord/pg'
import { createRedisBus, createRedisStreamsBroker, createRedisTier } from 'concord/redis'
import pg from 'pg'

const url = process.env.REDIS_URL!
const prefix = `feed${process.pid}` // keeps this run's keys and streams apart on a shared Redis
const sql = new pg.Pool({ connectionString: process.env.DATABASE_URL })
await sql.query(`
  CREATE TABLE IF NOT EXISTS products (id int PRIMARY KEY, name text NOT NULL);
  CREATE TABLE IF NOT EXISTS members (id int PRIMARY KEY, tier text NOT NULL);
  CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY, status text NOT NULL, version int NOT NULL);
  INSERT INTO products VALUES (1, 'lamp') ON CONFLICT DO NOTHING;
  INSERT INTO members VALUES (1, 'silver') ON CONFLICT DO NOTHING`)
const cache = (name: string) =>
  createCache<string>({
    name,
    l2: createRedisTier({ url, prefix: `${prefix}:` }),
    bus: createRedisBus({ url, prefix: `${prefix}:` }),
  })
const [products, members, orders] = [cache('products'), cache('members'), cache('orders')]
const broker = createRedisStreamsBroker({ url, prefix })

// #region feed
const feed = createChangeFeed({
  connectionString: process.env.DATABASE_URL,
  slot: 'shop_feed_shard0', // one slot per feed; the publication defaults to the same name
  tables: {
    products: { cache: 'products', keys: (row) => [`product:${row.id}`] },
    members: { cache: 'members', keys: (row) => [`member:${row.id}`], tags: (row) => [`tier:${row.tier}`] },
    orders: {
      cache: 'orders',
      keys: (row) => [`order:${row.id}`],
      // Outbox-style events for projections (search): ids are deterministic, so a replay is deduplicated.
      events: (change) => [
        {
          aggregateType: 'order',
          aggregateId: String(change.row.id),
          aggregateVersion: Number(change.row.version ?? 0),
          type: `order.${change.op}`,
          payload: change.row,
        },
      ],
    },
  },
  caches: { products, members, orders }, // concord/cache caches (their L1 copies everywhere hear the bus)
  broker, // for `events`
})
await feed.start()
// #endregion feed

const until = async (what: string, done: () => boolean | Promise<boolean>) => {
  for (const deadline = Date.now() + 20_000; !(await done()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
const read = (c: Cache<string>, key: string, query: string) =>
  c.getOrLoad(key, async () => (await sql.query(query)).rows[0].value as string)

const events: EventEnvelope[] = []
const subscription = await broker.subscribe('order', 'search', async (e) => void events.push(e))

console.log(`product:1 cached: ${await read(products, 'product:1', 'SELECT name AS value FROM products')}`)
await read(members, 'member:1', 'SELECT tier AS value FROM members')
// Writes the application never sees: an operator's UPDATE, a backfill, another service.
await sql.query(`UPDATE products SET name = 'desk lamp' WHERE id = 1`)
await sql.query(`UPDATE members SET tier = 'gold' WHERE id = 1`)
await sql.query(`INSERT INTO orders VALUES (7, 'placed', 1)`)
await until('the eviction', () => !products.hasLocal('product:1') && !members.hasLocal('member:1'))
console.log(
  `after a plain-SQL UPDATE: ${await read(products, 'product:1', 'SELECT name AS value FROM products')}`,
)
console.log(`member:1 now ${await read(members, 'member:1', 'SELECT tier AS value FROM members')}`)
await until('the order event', () => events.length > 0)
console.log(
  `event ${events[0]!.type} for order ${events[0]!.aggregateId}, lsn ${events[0]!.headers['concord-lsn']}`,
)
const status = await feed.status()
console.log(`feed ${status.state}: ${status.transactions} transactions, ${status.events} event`)

await subscription.close()
await feed.drop() // stops the feed and drops its slot and publication: a slot left behind retains WAL
await Promise.all([products.close(), members.close(), orders.close(), broker.close(), sql.end()])
