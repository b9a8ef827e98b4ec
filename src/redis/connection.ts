import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { z } from 'zod'

/** Where a Redis adapter connects: a URL (standalone), cluster seed nodes, or a client the caller owns. */
export const redisTargetSchema = z
  .object({
    /** A standalone server, `redis://host:port/db`. */
    url: z.string().url().optional(),
    /** Seed nodes of a Redis Cluster. */
    nodes: z
      .array(z.object({ host: z.string(), port: z.number().int().positive() }))
      .min(1)
      .optional(),
    /** An ioredis `Redis` or `Cluster` the caller owns (and closes); adapters duplicate it for subscribers. */
    client: z.custom<Redis | Cluster>((v) => v instanceof Redis || v instanceof Cluster).optional(),
  })
  .refine((t) => [t.url, t.nodes, t.client].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of url, nodes, client',
  })

export type RedisTarget = z.input<typeof redisTargetSchema>
export type RedisClient = Redis | Cluster

/** `EarlyDelivery.endpoint` of a Redis bus: where it connects. */
export interface RedisEndpoint {
  kind: 'redis'
  target: RedisTarget
}

/**
 * Opens a connection to the target. Connections concord opens itself retry forever (a cache outlives Redis
 * outages) but fail each command fast (`maxRetriesPerRequest: 1`); the callers bound every call with a timeout.
 * No auto-pipelining (ioredis's default, kept on purpose): ioredis builds a Pipeline per tick that copies every defined script onto itself (a third
 * of the tier's allocation when it was on); the tier batches its reads itself.
 */
export function openRedis(
  target: { url?: string; nodes?: { host: string; port: number }[]; client?: RedisClient },
  name: string,
): { client: RedisClient; owned: boolean } {
  const options: RedisOptions = {
    connectionName: name,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  }
  if (target.client) {
    return { client: target.client, owned: false }
  }
  if (target.nodes) {
    return {
      client: new Cluster(target.nodes, {
        redisOptions: options,
        clusterRetryStrategy: (times) => Math.min(50 * times, 1000),
      }),
      owned: true,
    }
  }
  return { client: new Redis(target.url!, options), owned: true }
}

/** A dedicated connection to the same server(s), for subscriptions (a subscribed connection can do nothing else). */
export function duplicateRedis(client: RedisClient, name: string): RedisClient {
  if (client instanceof Cluster) return client.duplicate()
  return client.duplicate({ connectionName: name, enableAutoPipelining: false })
}

/** Closes a connection without waiting on a server that may be gone. */
export async function closeRedis(client: RedisClient): Promise<void> {
  try {
    await Promise.race([client.quit(), new Promise((resolve) => setTimeout(resolve, 200).unref())])
  } catch {
    // already closed or unreachable
  }
  client.disconnect()
}

/**
 * Whether two targets reach the same pub/sub space: the same client object, standalone URLs naming the same
 * host and port (the database number does not matter to pub/sub), or cluster seed lists sharing a node. False
 * when unsure (a client against a URL), which only costs the caller an optimisation.
 */
export function sameRedis(a: RedisTarget, b: RedisTarget): boolean {
  if (a.client !== undefined || b.client !== undefined) return a.client === b.client
  if (a.url !== undefined && b.url !== undefined) {
    const x = new URL(a.url)
    const y = new URL(b.url)
    return x.protocol === y.protocol && x.hostname === y.hostname && (x.port || '6379') === (y.port || '6379')
  }
  if (a.nodes !== undefined && b.nodes !== undefined) {
    const seeds = new Set(a.nodes.map((n) => `${n.host}:${n.port}`))
    return b.nodes.some((n) => seeds.has(`${n.host}:${n.port}`))
  }
  return false
}
