import { join } from 'node:path'
import { waitFor } from '../wait.js'
import { timed } from './debug.js'
import { freePorts, LOOPBACK, withPortRetry } from './ports.js'
import { runCommand, type ServerProcess } from './process.js'
import { launchRedis } from './redis.js'
import { redisCommand } from './resp.js'
import { makeTempDir, removeTempDir } from './tempdir.js'

export const REDIS_CLI = process.env.CONCORD_REDIS_CLI ?? '/usr/bin/redis-cli'

export interface RedisClusterServer {
  nodes: { host: string; port: number }[]
  close(): Promise<void>
}

const MASTERS = 3

/**
 * A 3-master Redis Cluster without replicas, created with `redis-cli --cluster create`, ready when every
 * node reports cluster_state:ok. Each node gets an explicit free cluster bus port (`cluster-port`):
 * the default port+10000 may be taken or beyond 65535.
 */
export async function startRedisCluster(): Promise<RedisClusterServer> {
  const dir = makeTempDir('redis-cluster')
  const servers: ServerProcess[] = []
  let ports: number[] = []
  try {
    ports = await withPortRetry(async () => {
      const all = await freePorts(MASTERS * 2)
      const clientPorts = all.slice(0, MASTERS)
      const started = await Promise.allSettled(
        clientPorts.map((port, i) =>
          launchRedis({
            dir,
            port,
            extraArgs: [
              '--cluster-enabled',
              'yes',
              '--cluster-config-file',
              join(dir, `nodes-${port}.conf`),
              '--cluster-port',
              String(all[MASTERS + i]),
              // redis-cli --cluster create polls once a second until the nodes agree, and gossip rounds
              // scale with the node timeout: 5000 (the default) takes ~3 s to join, 2000 ~2 s, which is
              // also the floor (a master reports cluster_state:ok 2 s after its start at the earliest).
              // 1000 joined in ~1 s but let a starved machine flag nodes as failed mid-run.
              '--cluster-node-timeout',
              '2000',
              // Should a busy machine still flag a node as failed for a moment, the others keep serving
              // their own slots instead of refusing everything with CLUSTERDOWN.
              '--cluster-require-full-coverage',
              'no',
            ],
          }),
        ),
      )
      for (const result of started) if (result.status === 'fulfilled') servers.push(result.value)
      const failed = started.find((result) => result.status === 'rejected')
      if (failed) {
        // Retry (or give up) with none of this attempt's nodes left running.
        await Promise.all(servers.splice(0).map((server) => server.kill()))
        throw failed.reason
      }
      return clientPorts
    })
    await timed('redis cluster create', () =>
      runCommand(REDIS_CLI, [
        '--cluster',
        'create',
        ...ports.map((port) => `${LOOPBACK}:${port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]),
    )
    await timed('redis cluster_state:ok', () =>
      waitFor(
        async () => {
          const infos = await Promise.all(ports.map((port) => redisCommand(port, ['CLUSTER', 'INFO'])))
          // Full coverage is not required for cluster_state:ok (see above), so check the slots and nodes too.
          return infos.every((info) =>
            ['cluster_state:ok', 'cluster_slots_ok:16384', `cluster_known_nodes:${MASTERS}`].every((field) =>
              String(info).includes(field),
            ),
          )
        },
        { timeoutMs: 20_000, intervalMs: 20, what: `cluster_state:ok on redis cluster ${ports.join(',')}` },
      ),
    )
  } catch (error) {
    await Promise.all(servers.map((server) => server.kill()))
    removeTempDir(dir)
    throw error
  }
  return {
    nodes: ports.map((port) => ({ host: LOOPBACK, port })),
    async close() {
      await Promise.all(servers.map((server) => server.stop('SIGTERM', 2_000)))
      removeTempDir(dir)
    },
  }
}
