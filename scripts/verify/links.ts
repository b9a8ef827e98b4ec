import type { RealEnv } from '../../examples/shop/platform/real.js'
import type { PartitionProxy } from '../../test/support/services/index.js'

/** One instance's own links to the servers, each through a partition proxy of its own. */
export interface InstanceLinks {
  /** Absent on a Redis Cluster: its clients follow MOVED to the nodes' own ports, past any proxy. */
  redis?: PartitionProxy
  nats: PartitionProxy
  /** One per PostgreSQL server (primaries and replicas, the search database's server among them). */
  pg: PartitionProxy[]
}

type StartProxy = (target: { host: string; port: number }) => Promise<PartitionProxy>

/**
 * Gives each instance its own proxy in front of every server it uses, so one instance can be cut off while the
 * others keep their links (a partition), and all can be slowed at once (latency). Returns each instance's
 * environment, its URLs rewritten to its proxies.
 */
export async function linkInstances(
  env: RealEnv,
  instances: readonly string[],
  startProxy: StartProxy,
): Promise<{ links: Map<string, InstanceLinks>; envs: Map<string, RealEnv>; close(): Promise<void> }> {
  const pgUrls = [...env.SHOP_SHARDS.split(';').flatMap((entry) => entry.split(',')), env.SHOP_SEARCH_DB]
  const pgServers = [...new Set(pgUrls.map((url) => new URL(url).host))]
  const links = new Map<string, InstanceLinks>()
  const envs = new Map<string, RealEnv>()
  const all: PartitionProxy[] = []
  const start = async (host: string) => {
    const url = new URL(`tcp://${host}`)
    const proxy = await startProxy({ host: url.hostname, port: Number(url.port) })
    all.push(proxy)
    return proxy
  }
  try {
    for (const name of instances) {
      const redis = env.REDIS_URL ? await start(new URL(env.REDIS_URL).host) : undefined
      const nats = await start(new URL(env.NATS_URL).host)
      const pg = await Promise.all(pgServers.map(start))
      const via = new Map(pgServers.map((host, i) => [host, `${pg[i]!.host}:${pg[i]!.port}`]))
      const move = (text: string, to: string) => {
        const url = new URL(text)
        url.host = to
        return url.toString()
      }
      const pgUrl = (text: string) => move(text, via.get(new URL(text).host)!)
      links.set(name, { ...(redis && { redis }), nats, pg })
      envs.set(name, {
        ...env,
        SHOP_SHARDS: env.SHOP_SHARDS.split(';')
          .map((entry) => entry.split(',').map(pgUrl).join(','))
          .join(';'),
        SHOP_SEARCH_DB: pgUrl(env.SHOP_SEARCH_DB),
        ...(redis && { REDIS_URL: `redis://${redis.host}:${redis.port}` }),
        NATS_URL: move(env.NATS_URL, `${nats.host}:${nats.port}`),
      })
    }
  } catch (error) {
    await Promise.all(all.map((p) => p.close()))
    throw error
  }
  return {
    links,
    envs,
    close: async () => {
      await Promise.all(all.map((p) => p.close()))
    },
  }
}
