import { randomBytes } from 'node:crypto'
import { Directory } from '../../examples/shop/gateway/directory.js'
import type { RealShop } from '../../examples/shop/real/launch.js'
import type {
  NatsServer,
  PostgresServer,
  RedisClusterServer,
  RedisServer,
} from '../../test/support/services/index.js'
import type { RedisMode } from './args.js'
import { type InstanceLinks, linkInstances } from './links.js'

/** The shop under test and the servers under it, each a handle the fault scheduler can hit. */
export interface System {
  shop: RealShop
  /** The one Redis server (`--redis single`); the single-Redis faults use it. */
  redis: RedisServer | undefined
  /** The Cluster with a replica per master (`--redis cluster`); `redis-failover` uses it. */
  cluster: RedisClusterServer | undefined
  nats: NatsServer
  postgres: PostgresServer[]
  /**
   * Each instance's own proxies in front of Redis (not on the Cluster), NATS and every PostgreSQL server, so
   * latency can be injected and one instance cut off (always there: one path for every run).
   */
  links: ReadonlyMap<string, InstanceLinks>
  /** Shard primary URLs and the search database URL, for the final state checks. */
  shardUrls: string[]
  searchUrl: string
  /** The admin API's token (the C8 phase runs the checker through it). */
  adminToken: string
  close(): Promise<void>
}

/**
 * Starts private servers through the test harness (Redis, NATS JetStream, three PostgreSQL primaries with
 * streaming replicas), each instance's own partition proxies in front of them (links.ts), then the shop in real
 * mode, one process per instance. The verify tool starts the servers itself rather than letting `launchReal` do
 * it, so that the instances reach them through their proxies.
 */
export async function startSystem(instances: number, redisMode: RedisMode = 'single'): Promise<System> {
  const harness = await import('../../test/support/services/index.js')
  const { launchReal } = await import('../../examples/shop/real/launch.js')
  let started: Omit<System, 'shop' | 'close' | 'adminToken'> | undefined
  let closeServers = async () => {}
  let linked: Awaited<ReturnType<typeof linkInstances>> | undefined
  // Handed to launchReal as a function: the servers start while the instance processes load their modules.
  const startServers = async () => {
    // The Cluster: 3 masters with a replica each, failed over within ~2-4 s (node timeout 1 s).
    const [redisOrCluster, nats, ...postgres] = await Promise.all([
      redisMode === 'cluster'
        ? harness.startRedisCluster({ replicas: 1, nodeTimeoutMs: 1000 })
        : harness.startRedis(),
      harness.startNats(),
      harness.startPostgres({ replica: true }),
      harness.startPostgres({ replica: true }),
      harness.startPostgres({ replica: true }),
    ])
    const redis = 'url' in redisOrCluster ? redisOrCluster : undefined
    const cluster = 'url' in redisOrCluster ? undefined : redisOrCluster
    closeServers = async () => {
      await linked?.close()
      await Promise.all([redisOrCluster.close(), nats.close(), ...postgres.map((p) => p.close())]).catch(
        () => undefined,
      )
    }
    const [search, ...shards] = await Promise.all([
      postgres[0]!.createDatabase('search'),
      ...postgres.map((pair) => pair.createDatabase('shop')),
    ])
    const env = {
      SHOP_SHARDS: shards.map((db) => `${db.primaryUrl},${db.replicaUrl}`).join(';'),
      SHOP_SEARCH_DB: search.primaryUrl,
      ...(redis
        ? { REDIS_URL: redis.url }
        : { REDIS_CLUSTER_NODES: cluster!.nodes.map((node) => `${node.host}:${node.port}`).join(',') }),
      NATS_URL: nats.url,
    }
    linked = await linkInstances(env, Directory.of(instances).all(), harness.startPartitionProxy)
    started = {
      redis,
      cluster,
      nats,
      postgres,
      links: linked.links,
      shardUrls: shards.map((db) => db.primaryUrl),
      searchUrl: search.primaryUrl,
    }
    // The gateway's own admin side connects directly; the instances through their links.
    return env
  }
  try {
    // A random token, like the demo's default; verify uses the admin API only for its C8 phase. No checker or
    // tracer runs on a schedule inside the shop: their repairs would mend the very staleness verify measures.
    const adminToken = randomBytes(18).toString('base64url')
    const shop = await launchReal(
      {
        port: 0,
        instances,
        seed: true,
        adminToken,
        selfCheck: false,
        instanceEnv: (name, env) => linked?.envs.get(name) ?? env,
      },
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
