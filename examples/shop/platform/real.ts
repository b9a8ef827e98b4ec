import { createShards, type Failover } from 'concord/db'
import { createNatsBroker } from 'concord/nats'
import { type ChangeFeed, createChangeFeed, createPgNode } from 'concord/pg'
import { createRedisBus, createRedisTier } from 'concord/redis'
import { z } from 'zod'
import type { Infra } from './infra.js'
import { patientBroker } from './patient-broker.js'

/**
 * Where the real services are, from the environment:
 * - `SHOP_SHARDS`: one entry per shard separated by `;`, each the URLs of its servers, `primaryUrl[,replicaUrl...]`
 *   (in any order: the roles are found with `pg_is_in_recovery()`, and follow a failover)
 * - `SHOP_SEARCH_DB`: the search service's database URL
 * - `REDIS_URL` (standalone) or `REDIS_CLUSTER_NODES` (`host:port,host:port,...`)
 * - `NATS_URL`
 * - `SHOP_CHANGE_FEED`: `off` to run without the WAL change feed (on by default; its primaries need
 *   `wal_level = logical`)
 */
export const realEnv = z.object({
  SHOP_SHARDS: z.string().min(1),
  SHOP_SEARCH_DB: z.string().min(1),
  REDIS_URL: z.string().optional(),
  REDIS_CLUSTER_NODES: z.string().optional(),
  NATS_URL: z.string().min(1),
  SHOP_CHANGE_FEED: z.enum(['on', 'off']).optional(),
})

export type RealEnv = z.infer<typeof realEnv>

export function realInfra(
  env: RealEnv,
  options: { pool?: number; onFailover?: (failover: Failover) => Promise<void> } = {},
): Infra {
  const max = options.pool ?? 10
  // A partition drops packets, so only a client-side bound ends a query that will not be answered.
  const queryTimeout = '10s'
  const entries = env.SHOP_SHARDS.split(';').map((entry) => entry.split(','))
  /** Each node's URL by its name (what a failover names). */
  const urlOf = new Map<string, string>()
  const following = new Set<FollowingFeed>()
  const shards = createShards({
    shards: entries.map((urls) => ({
      nodes: urls.map((url) => {
        const node = createPgNode({ connectionString: url, max, queryTimeout })
        urlOf.set(node.name, url)
        return node
      }),
    })),
    // The feed's new slot first, then the caller's (cache clearing): a plain-SQL write on the new primary is then
    // either in the new slot or already there when the caches are cleared.
    onFailover: async (failover) => {
      await Promise.all([...following].map((feed) => feed.failedOver(failover)))
      await options.onFailover?.(failover)
    },
  })
  const search = createShards({
    shards: [{ primary: createPgNode({ connectionString: env.SHOP_SEARCH_DB, max, queryTimeout }) }],
  })
  const redis = env.REDIS_CLUSTER_NODES
    ? {
        nodes: env.REDIS_CLUSTER_NODES.split(',').map((node) => {
          const [host, port] = node.split(':')
          return { host: host!, port: Number(port) }
        }),
      }
    : { url: env.REDIS_URL ?? 'redis://127.0.0.1:6379' }
  const broker = patientBroker(createNatsBroker({ servers: env.NATS_URL, prefix: 'shop' }))
  return {
    kind: 'real',
    shards,
    search,
    l2: createRedisTier({ ...redis, prefix: 'shop:' }),
    bus: createRedisBus({ ...redis, prefix: 'shop:bus:' }),
    broker,
    ...(env.SHOP_CHANGE_FEED !== 'off' && {
      // One slot per shard primary; the instance that calls this is the one consumer of each.
      changeFeeds: ({ tables, caches, onError }) =>
        entries.map(([primary], shard) => {
          const feed = followingFeed(shard, primary!, urlOf, (connectionString) =>
            createChangeFeed({
              connectionString,
              slot: `shop_feed_shard${shard}`,
              tables,
              caches,
              broker,
              applicationName: `shop-feed-shard${shard}`,
              ...(onError && { onError }),
            }),
          )
          following.add(feed)
          return feed
        }),
    }),
    async close() {
      await broker.close()
      await Promise.all([shards.close(), search.close()])
    },
  }
}

interface FollowingFeed {
  start(): Promise<void>
  close(): Promise<void>
  failedOver(failover: Failover): Promise<void>
}

/**
 * A shard's change feed that follows its primary. Slots are not replicated before PostgreSQL 17, so after a
 * failover the feed starts again on the new primary with a new slot. What the old slot had not delivered is gone,
 * and so may be commits past the switch point: the instances clear their caches in `onFailover` right after, so
 * nothing the lost changes would have invalidated is left to invalidate.
 */
function followingFeed(
  shard: number,
  url: string,
  urlOf: ReadonlyMap<string, string>,
  make: (connectionString: string) => ChangeFeed,
): FollowingFeed {
  let feed = make(url)
  let started = false
  return {
    async start() {
      started = true
      await feed.start()
    },
    async close() {
      started = false
      await feed.close()
    },
    async failedOver(failover) {
      const next = urlOf.get(failover.to)
      if (failover.shard !== shard || next === undefined) return
      await feed.close().catch(() => undefined)
      feed = make(next)
      // A feed that cannot start on the new primary is reported, and the caches are cleared all the same.
      if (started)
        await feed.start().catch((error) => {
          console.warn(`shop: change feed of shard ${shard} on the new primary: ${(error as Error).message}`)
        })
    },
  }
}
