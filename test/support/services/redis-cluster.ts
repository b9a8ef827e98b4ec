import { join } from 'node:path'
import { waitFor } from '../wait.js'
import { timed } from './debug.js'
import { freePorts, LOOPBACK, withPortRetry } from './ports.js'
import { runCommand, type ServerProcess } from './process.js'
import { launchRedis } from './redis.js'
import { redisCommand } from './resp.js'
import { makeTempDir, removeTempDir } from './tempdir.js'

export const REDIS_CLI = process.env.CONCORD_REDIS_CLI ?? '/usr/bin/redis-cli'

/** One node as `CLUSTER NODES` describes it. */
export interface ClusterNode {
  id: string
  port: number
  role: 'master' | 'replica'
  /** The master's node id, for a replica. */
  masterId: string | undefined
  /** Failed or unreachable in the view of the node asked. */
  failed: boolean
  /** Slot ranges served, `[first, last]` (masters only). */
  slots: [number, number][]
}

export interface RedisClusterServer {
  /** Every node (masters and replicas): seeds for a client. */
  nodes: { host: string; port: number }[]
  /** The cluster as a live node sees it (`CLUSTER NODES`). */
  topology(): Promise<ClusterNode[]>
  /** Ports of the masters that serve slots now. */
  masterPorts(): Promise<number[]>
  /** The master serving `slot` now. */
  masterOf(slot: number): Promise<ClusterNode>
  /**
   * Graceful failover: `CLUSTER FAILOVER` on the replica of the master at `masterPort` (the replica catches up
   * first, so nothing is lost); resolves when the replica serves the slots and the old master follows it.
   * Returns the new master's port.
   */
  failover(masterPort: number): Promise<number>
  /**
   * SIGKILL of the master at `masterPort`; resolves once its replica has been promoted (it waits for the
   * node timeout and the election: ~2-4 s with `nodeTimeoutMs` 1000). `afterKill` runs once the master is gone
   * (e.g. to resume a paused replica). Returns the new master's port.
   */
  killMaster(masterPort: number, afterKill?: () => void): Promise<number>
  /** The port of the replica of the master at `masterPort`. */
  replicaOf(masterPort: number): Promise<number>
  /** SIGSTOP / SIGCONT of a node: a paused replica stops taking its master's writes (replication lag on demand). */
  pause(port: number): void
  resume(port: number): void
  /** Starts a killed node again on its port (empty: no persistence); it rejoins as a replica. Waits for its sync. */
  restartNode(port: number): Promise<void>
  close(): Promise<void>
}

export interface RedisClusterOptions {
  /** Replicas per master (`redis-cli --cluster create --cluster-replicas`). @default 0 */
  replicas?: number
  /** `cluster-node-timeout`: how long a silent master takes to be failed over. @default 2000 */
  nodeTimeoutMs?: number
}

const MASTERS = 3

/** `CLUSTER NODES` as a list; the line of the node asked is included. */
export function parseClusterNodes(text: string): ClusterNode[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.trim().split(' ')
      const flagList = flags!.split(',')
      return {
        id: id!,
        port: Number(address!.split('@')[0]!.split(':').pop()),
        role: flagList.includes('master') ? ('master' as const) : ('replica' as const),
        masterId: master === '-' ? undefined : master,
        failed: flagList.some((flag) => flag === 'fail' || flag === 'fail?' || flag === 'noaddr'),
        slots: slots
          .filter((range) => !range.startsWith('['))
          .map((range) => {
            const [first, last] = range.split('-').map(Number)
            return [first!, last ?? first!] as [number, number]
          }),
      }
    })
}

/**
 * A 3-master Redis Cluster, optionally with replicas, created with `redis-cli --cluster create`, ready when every
 * node reports cluster_state:ok (and every replica has synced). Each node gets an explicit free cluster bus port
 * (`cluster-port`): the default port+10000 may be taken or beyond 65535.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterServer> {
  const replicas = options.replicas ?? 0
  const nodeTimeout = options.nodeTimeoutMs ?? 2000
  const count = MASTERS * (1 + replicas)
  const dir = makeTempDir('redis-cluster')
  const servers = new Map<number, ServerProcess>()
  const busPorts = new Map<number, number>()
  let ports: number[] = []
  const launch = (port: number) =>
    launchRedis({
      dir,
      port,
      extraArgs: [
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-port',
        String(busPorts.get(port)),
        // redis-cli --cluster create polls once a second until the nodes agree, and gossip rounds
        // scale with the node timeout: 5000 (the default) takes ~3 s to join, 2000 ~2 s, which is
        // also the floor (a master reports cluster_state:ok 2 s after its start at the earliest).
        // 1000 joined in ~1 s but let a starved machine flag nodes as failed mid-run.
        '--cluster-node-timeout',
        String(nodeTimeout),
        // Should a busy machine still flag a node as failed for a moment, the others keep serving
        // their own slots instead of refusing everything with CLUSTERDOWN.
        '--cluster-require-full-coverage',
        'no',
        // A replica whose master died fails over however long it was cut off (the tests kill masters on
        // purpose; the default factor 10 could refuse on a machine that starved the replica's link).
        '--cluster-replica-validity-factor',
        '0',
      ],
    })
  try {
    ports = await withPortRetry(async () => {
      const all = await freePorts(count * 2)
      const clientPorts = all.slice(0, count)
      for (const [i, port] of clientPorts.entries()) busPorts.set(port, all[count + i]!)
      const started = await Promise.allSettled(clientPorts.map(launch))
      started.forEach((result, i) => {
        if (result.status === 'fulfilled') servers.set(clientPorts[i]!, result.value)
      })
      const failed = started.find((result) => result.status === 'rejected')
      if (failed) {
        // Retry (or give up) with none of this attempt's nodes left running.
        await Promise.all([...servers.values()].map((server) => server.kill()))
        servers.clear()
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
        String(replicas),
        '--cluster-yes',
      ]),
    )
    await timed('redis cluster_state:ok', () => clusterReady(ports, count))
  } catch (error) {
    await Promise.all([...servers.values()].map((server) => server.kill()))
    removeTempDir(dir)
    throw error
  }

  const alive = () => ports.filter((port) => servers.get(port)?.running)
  async function topology(): Promise<ClusterNode[]> {
    let lastError: unknown
    for (const port of alive()) {
      try {
        return parseClusterNodes(String(await redisCommand(port, ['CLUSTER', 'NODES'])))
      } catch (error) {
        lastError = error
      }
    }
    throw new Error(`no live cluster node answered CLUSTER NODES: ${String(lastError)}`)
  }
  async function masterOf(slot: number): Promise<ClusterNode> {
    const master = (await topology()).find(
      (node) => node.role === 'master' && !node.failed && node.slots.some(([a, b]) => slot >= a && slot <= b),
    )
    if (!master) throw new Error(`no master serves slot ${slot}`)
    return master
  }
  async function replicaOf(masterPort: number): Promise<ClusterNode> {
    const nodes = await topology()
    const master = nodes.find((node) => node.port === masterPort && node.role === 'master')
    const replica = nodes.find((node) => node.masterId === master?.id)
    if (!master || !replica) throw new Error(`no replica of a master at port ${masterPort}`)
    return replica
  }
  /** Waits until `port` serves `slot` as a master in the view of every live node. */
  async function promoted(port: number, slot: number, what: string): Promise<void> {
    await waitFor(
      async () => {
        for (const live of alive()) {
          const nodes = parseClusterNodes(String(await redisCommand(live, ['CLUSTER', 'NODES'])))
          const owner = nodes.find(
            (node) => node.role === 'master' && node.slots.some(([a, b]) => slot >= a && slot <= b),
          )
          if (owner?.port !== port) return false
        }
        return true
      },
      { timeoutMs: 20_000 + 5 * nodeTimeout, intervalMs: 50, what },
    )
  }

  return {
    nodes: ports.map((port) => ({ host: LOOPBACK, port })),
    topology,
    async masterPorts() {
      return (await topology())
        .filter((node) => node.role === 'master' && !node.failed && node.slots.length > 0)
        .map((node) => node.port)
    },
    masterOf,
    replicaOf: async (masterPort) => (await replicaOf(masterPort)).port,
    pause: (port) => process.kill(servers.get(port)!.pid, 'SIGSTOP'),
    resume: (port) => process.kill(servers.get(port)!.pid, 'SIGCONT'),
    async failover(masterPort) {
      const replica = await replicaOf(masterPort)
      const slot = firstSlotOf(await topology(), masterPort)
      await redisCommand(replica.port, ['CLUSTER', 'FAILOVER'])
      await promoted(replica.port, slot, `CLUSTER FAILOVER to ${replica.port}`)
      return replica.port
    },
    async killMaster(masterPort, afterKill) {
      const replica = await replicaOf(masterPort)
      const slot = firstSlotOf(await topology(), masterPort)
      await servers.get(masterPort)!.kill()
      afterKill?.()
      await promoted(replica.port, slot, `promotion of ${replica.port} after SIGKILL of ${masterPort}`)
      return replica.port
    },
    async restartNode(port) {
      const server = servers.get(port)
      if (server?.running) throw new Error(`cluster node ${port} is still running`)
      servers.set(port, await launch(port))
      await waitFor(
        async () => {
          const info = String(await redisCommand(port, ['INFO', 'replication']))
          return info.includes('role:slave') && info.includes('master_link_status:up')
        },
        {
          timeoutMs: 20_000 + 5 * nodeTimeout,
          intervalMs: 50,
          what: `node ${port} rejoined as a synced replica`,
        },
      )
    },
    async close() {
      for (const server of servers.values()) if (server.running) process.kill(server.pid, 'SIGCONT')
      await Promise.all([...servers.values()].map((server) => server.stop('SIGTERM', 2_000)))
      removeTempDir(dir)
    },
  }
}

function firstSlotOf(nodes: ClusterNode[], masterPort: number): number {
  const master = nodes.find((node) => node.port === masterPort && node.role === 'master')
  const slot = master?.slots[0]?.[0]
  if (slot === undefined) throw new Error(`no master serving slots at port ${masterPort}`)
  return slot
}

/** Every node reports cluster_state:ok with all slots and nodes known, and every replica has synced. */
async function clusterReady(ports: number[], count: number): Promise<void> {
  await waitFor(
    async () => {
      const infos = await Promise.all(ports.map((port) => redisCommand(port, ['CLUSTER', 'INFO'])))
      // Full coverage is not required for cluster_state:ok (see above), so check the slots and nodes too.
      const agreed = infos.every((info) =>
        ['cluster_state:ok', 'cluster_slots_ok:16384', `cluster_known_nodes:${count}`].every((field) =>
          String(info).includes(field),
        ),
      )
      if (!agreed) return false
      const replication = await Promise.all(ports.map((port) => redisCommand(port, ['INFO', 'replication'])))
      return replication.every(
        (info) => !String(info).includes('role:slave') || String(info).includes('master_link_status:up'),
      )
    },
    { timeoutMs: 20_000, intervalMs: 20, what: `cluster_state:ok on redis cluster ${ports.join(',')}` },
  )
}
