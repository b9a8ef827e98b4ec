import { randomBytes } from 'node:crypto'
import type { RealShop } from '../../examples/shop/real/launch.js'
import type {
  NatsServer,
  PartitionProxy,
  PostgresServer,
  RedisServer,
} from '../../test/support/services/index.js'

/** The shop under test and the servers under it, each a handle the fault scheduler can hit. */
export interface System {
  shop: RealShop
  redis: RedisServer
  nats: NatsServer
  postgres: PostgresServer[]
  /** In front of Redis, so latency can be injected (always there: one path for every run). */
  proxy: PartitionProxy
  /** Shard primary URLs and the search database URL, for the final state checks. */
  shardUrls: string[]
  searchUrl: string
  /** The admin API's token (the C8 phase runs the checker through it). */
  adminToken: string
  close(): Promise<void>
}

/**
 * Starts private servers through the test harness (Redis, NATS JetStream, three PostgreSQL primaries with
 * streaming replicas), a delay proxy in front of Redis, then the shop in real mode, one process per instance.
 * The verify tool starts the servers itself rather than letting `launchReal` do it, so that the services
 * reach Redis through the proxy.
 */
export async function startSystem(instances: number): Promise<System> {
  const harness = await import('../../test/support/services/index.js')
  const { launchReal } = await import('../../examples/shop/real/launch.js')
  let started: Omit<System, 'shop' | 'close' | 'adminToken'> | undefined
  let closeServers = async () => {}
  // Handed to launchReal as a function: the servers start while the instance processes load their modules.
  const startServers = async () => {
    const [redis, nats, ...postgres] = await Promise.all([
      harness.startRedis(),
      harness.startNats(),
      harness.startPostgres({ replica: true }),
      harness.startPostgres({ replica: true }),
      harness.startPostgres({ replica: true }),
    ])
    let proxy: PartitionProxy | undefined
    closeServers = async () => {
      await proxy?.close()
      await Promise.all([redis.close(), nats.close(), ...postgres.map((p) => p.close())]).catch(
        () => undefined,
      )
    }
    proxy = await harness.startPartitionProxy({ host: redis.host, port: redis.port })
    const [search, ...shards] = await Promise.all([
      postgres[0]!.createDatabase('search'),
      ...postgres.map((pair) => pair.createDatabase('shop')),
    ])
    started = {
      redis,
      nats,
      postgres,
      proxy,
      shardUrls: shards.map((db) => db.primaryUrl),
      searchUrl: search.primaryUrl,
    }
    return {
      SHOP_SHARDS: shards.map((db) => `${db.primaryUrl},${db.replicaUrl}`).join(';'),
      SHOP_SEARCH_DB: search.primaryUrl,
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
      NATS_URL: nats.url,
    }
  }
  try {
    // A random token, like the demo's default; verify uses the admin API only for its C8 phase. No checker or
    // tracer runs on a schedule inside the shop: their repairs would mend the very staleness verify measures.
    const adminToken = randomBytes(18).toString('base64url')
    const shop = await launchReal(
      { port: 0, instances, seed: true, adminToken, selfCheck: false },
      startServers,
    )
    return {
      ...started!,
      shop,
      adminToken,
      async close() {
        await shop.close()
        await closeServers()
      },
    }
  } catch (error) {
    await closeServers()
    throw error
  }
}
