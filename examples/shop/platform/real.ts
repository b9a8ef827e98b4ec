import { createShards } from 'concord/db'
import { createNatsBroker } from 'concord/nats'
import { createChangeFeed, createPgNode } from 'concord/pg'
import { createRedisBus, createRedisTier } from 'concord/redis'
import { z } from 'zod'
import type { Infra } from './infra.js'
import { patientBroker } from './patient-broker.js'

/**
 * Where the real services are, from the environment:
 * - `SHOP_SHARDS`: one entry per shard separated by `;`, each `primaryUrl[,replicaUrl...]`
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

export function realInfra(env: RealEnv, options: { pool?: number } = {}): Infra {
  const max = options.pool ?? 10
  // A partition drops packets, so only a client-side bound ends a query that will not be answered.
  const queryTimeout = '10s'
  const entries = env.SHOP_SHARDS.split(';').map((entry) => entry.split(','))
  const shards = createShards({
    shards: entries.map(([primary, ...replicas]) => {
      return {
        primary: createPgNode({ connectionString: primary!, max, queryTimeout }),
        replicas: replicas.map((url) => createPgNode({ connectionString: url, max, queryTimeout })),
      }
    }),
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
        entries.map(([primary], shard) =>
          createChangeFeed({
            connectionString: primary!,
            slot: `shop_feed_shard${shard}`,
            tables,
            caches,
            broker,
            applicationName: `shop-feed-shard${shard}`,
            ...(onError && { onError }),
          }),
        ),
    }),
    async close() {
      await broker.close()
      await Promise.all([shards.close(), search.close()])
    },
  }
}
