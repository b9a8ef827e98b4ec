import { createShards, type Failover } from 'concord/db'
import { createNatsBroker } from 'concord/nats'
import { createPgNode } from 'concord/pg'
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
 */
export const realEnv = z.object({
  SHOP_SHARDS: z.string().min(1),
  SHOP_SEARCH_DB: z.string().min(1),
  REDIS_URL: z.string().optional(),
  REDIS_CLUSTER_NODES: z.string().optional(),
  NATS_URL: z.string().min(1),
})

export type RealEnv = z.infer<typeof realEnv>

export function realInfra(
  env: RealEnv,
  options: { pool?: number; onFailover?: (failover: Failover) => Promise<void> } = {},
): Infra {
  const max = options.pool ?? 10
  // A partition drops packets, so only a client-side bound ends a query that will not be answered.
  const queryTimeout = '10s'
  const shards = createShards({
    shards: env.SHOP_SHARDS.split(';').map((entry) => ({
      nodes: entry.split(',').map((url) => createPgNode({ connectionString: url, max, queryTimeout })),
    })),
    ...(options.onFailover && { onFailover: options.onFailover }),
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
    async close() {
      await broker.close()
      await Promise.all([shards.close(), search.close()])
    },
  }
}
