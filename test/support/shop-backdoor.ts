import { Redis } from 'ioredis'
import pg from 'pg'
import { jsonSerializer } from '../../src/cache/index.js'
import { startNats, startPostgres, startRedis } from './services/index.js'

/**
 * The real shop's servers, started by the test rather than by the shop, so the test can reach behind the shop's
 * back: `env` goes to `npm run demo -- --real` (platform/real.ts reads it), `diverge` corrupts copies directly.
 */
export interface ShopBackdoor {
  env: Record<string, string>
  /**
   * Changes product `id`'s price in its L2 entry (a raw SET of the tier's value key, same envelope) and in its
   * search row (an UPDATE no event caused); the version stays, so only the checker's comparison can tell.
   * Returns false when the L2 entry is not there (nothing was changed).
   */
  diverge(id: number): Promise<boolean>
  close(): Promise<void>
}

export async function realShopBackdoor(): Promise<ShopBackdoor> {
  const [redis, nats, ...pairs] = await Promise.all([
    startRedis(),
    startNats(),
    startPostgres({ replica: true }),
    startPostgres({ replica: true }),
    startPostgres({ replica: true }),
  ])
  const shards = await Promise.all(pairs.map((pair) => pair.createDatabase('shop')))
  const search = await pairs[0]!.createDatabase('search')
  const client = new Redis(redis.url)
  const json = jsonSerializer()
  return {
    env: {
      SHOP_SHARDS: shards.map((db) => `${db.primaryUrl},${db.replicaUrl}`).join(';'),
      SHOP_SEARCH_DB: search.primaryUrl,
      REDIS_URL: redis.url,
      NATS_URL: nats.url,
    },
    async diverge(id) {
      // platform/real.ts: createRedisTier prefix 'shop:'; the product cache is named 'products', its keys product:<id>.
      const key = `shop:{products:product:${id}}:v`
      const raw = await client.getBuffer(key)
      if (raw === null) return false
      const bar = raw.indexOf('|') // the envelope: kind, logical expiry, '|', then the serialised value
      const value = json.deserialize(raw, bar + 1) as { price: number }
      const corrupted = Buffer.concat([
        raw.subarray(0, bar + 1),
        Buffer.from(json.serialize({ ...value, price: value.price + 1000 })),
      ])
      await client.set(key, corrupted, 'KEEPTTL')
      const db = new pg.Client({ connectionString: search.primaryUrl })
      await db.connect()
      try {
        const { rowCount } = await db.query('UPDATE search_products SET price = price + 1000 WHERE id = $1', [
          id,
        ])
        if (rowCount !== 1) throw new Error(`no search row for product ${id}`)
      } finally {
        await db.end()
      }
      return true
    },
    async close() {
      client.disconnect()
      await Promise.all([redis.close(), nats.close(), ...pairs.map((pair) => pair.close())])
    },
  }
}
