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
    /**
     * ioredis options for the connections concord opens from `url` or `nodes`: `username`, `password`, `tls`,
     * `db`, ... (for a Cluster, they apply to every node). Credentials go to ioredis only, never into errors or
     * health reports. Ignored with `client`.
     */
    redisOptions: z
      .custom<RedisOptions>((v) => typeof v === 'object' && v !== null, 'ioredis options')
      .optional(),
  })
  .refine((t) => [t.url, t.nodes, t.client].filter((x) => x !== undefined).length === 1, {
    message: 'give exactly one of url, nodes, client',
  })

/** ioredis options for the connections concord opens (`username`, `password`, `tls`, `db`, ...). */
interface WithOptions {
  /**
   * ioredis options for the connections concord opens from `url` or `nodes` (for a Cluster, they apply to every
   * node). Credentials go to ioredis only, never into errors or health reports.
   */
  redisOptions?: RedisOptions
}

/** Where a Redis adapter connects: exactly one of a URL, a Cluster's seed nodes, or a client the caller owns. */
export type RedisTarget =
  | (WithOptions & {
      /** A standalone server: `redis://[user:password@]host:port[/db]`, `rediss://` for TLS. */
      url: string
      nodes?: never
      client?: never
    })
  | (WithOptions & {
      /** Seed nodes of a Redis Cluster. */
      nodes: { host: string; port: number }[]
      url?: never
      client?: never
    })
  | {
      /** An ioredis `Redis` or `Cluster` the caller owns (and closes); concord duplicates it for subscribers. */
      client: RedisClient
      url?: never
      nodes?: never
      redisOptions?: never
    }
/** An ioredis client: standalone or Cluster. */
export type RedisClient = Redis | Cluster

/** `EarlyDelivery.endpoint` of a Redis bus: where it connects. */
export interface RedisEndpoint {
  kind: 'redis'
  target: ParsedTarget
}

/** A target as its schema parsed it. */
export type ParsedTarget = z.output<typeof redisTargetSchema>

/** One backoff for every connection concord opens: 50 ms doubling, at most 1 s between attempts, forever. */
const reconnectDelay = (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000)

/**
 * How a connection treats commands while it is down. `'retry-once'` (the cache's tier and bus): queued while
 * reconnecting, each retried once after a disconnect; the callers bound every call with a timeout.
 * `'fail-fast'` (the Streams broker): no offline queue and no retry, so loops and `publish` see an outage at
 * once and back off themselves.
 */
export type CommandMode = 'retry-once' | 'fail-fast'

function commandOptions(mode: CommandMode, name: string): RedisOptions {
  return mode === 'fail-fast'
    ? {
        connectionName: name,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        retryStrategy: reconnectDelay,
      }
    : { connectionName: name, maxRetriesPerRequest: 1, retryStrategy: reconnectDelay }
}

/**
 * The one place concord opens Redis connections. Connections it opens reconnect forever (a cache or a broker
 * outlives Redis outages). A caller's `client` is used as is and never closed by concord.
 * No auto-pipelining (ioredis's default, kept on purpose): ioredis builds a Pipeline per tick that copies every
 * defined script onto itself (a third of the tier's allocation when it was on); the tier batches its reads itself.
 */
export function openRedis(
  target: {
    url?: string | undefined
    nodes?: { host: string; port: number }[] | undefined
    client?: RedisClient | undefined
    redisOptions?: RedisOptions | undefined
  },
  name: string,
  mode: CommandMode = 'retry-once',
): { client: RedisClient; owned: boolean } {
  if (target.client) return { client: target.client, owned: false }
  const options = { ...target.redisOptions, ...commandOptions(mode, name) }
  if (target.nodes) {
    return {
      // A Cluster keeps its own offline queue (it forces one on every node's connection): fail-fast is set here.
      client: new Cluster(target.nodes, {
        redisOptions: options,
        clusterRetryStrategy: reconnectDelay,
        enableOfflineQueue: mode !== 'fail-fast',
      }),
      owned: true,
    }
  }
  return { client: new Redis(target.url!, options), owned: true }
}

/**
 * A connection of its own to the target, even when the caller gave a `client` (duplicated, with `mode`'s command
 * options): for subscribers and blocking reads, which can do nothing else while they wait.
 */
export function openDedicated(
  target: Parameters<typeof openRedis>[0],
  name: string,
  mode: CommandMode = 'retry-once',
): RedisClient {
  return target.client ? duplicateRedis(target.client, name, mode) : openRedis(target, name, mode).client
}

/**
 * A dedicated connection to the same server(s), for subscriptions (a subscribed connection can do nothing else).
 * With `mode`, it also takes that mode's command options; without, it keeps the original's.
 */
export function duplicateRedis(client: RedisClient, name: string, mode?: CommandMode): RedisClient {
  if (client instanceof Cluster) {
    return mode === undefined
      ? client.duplicate()
      : client.duplicate(undefined, {
          enableOfflineQueue: mode !== 'fail-fast',
          redisOptions: commandOptions(mode, name),
        })
  }
  const command = mode === undefined ? { connectionName: name } : commandOptions(mode, name)
  return client.duplicate({ ...command, enableAutoPipelining: false })
}

/** Where a target points, for errors and health: `redis://host:port` or the seed nodes; never credentials. */
export function describeTarget(target: ParsedTarget): string {
  if (target.url !== undefined) {
    const url = new URL(target.url)
    return `${url.protocol}//${url.hostname}:${url.port || '6379'}`
  }
  if (target.nodes !== undefined) return target.nodes.map((n) => `${n.host}:${n.port}`).join(',')
  const c = target.client
  if (c instanceof Cluster) return 'a Redis Cluster client'
  return c ? `redis://${c.options.host ?? 'localhost'}:${c.options.port ?? 6379}` : 'redis'
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
export function sameRedis(a: ParsedTarget, b: ParsedTarget): boolean {
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
