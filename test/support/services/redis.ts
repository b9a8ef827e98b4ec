import { join } from 'node:path'
import { freePort, LOOPBACK, withPortRetry } from './ports.js'
import { type ServerProcess, spawnServer, waitUntilReady } from './process.js'
import { type RespOptions, redisCommand, redisCommands } from './resp.js'
import { makeTempDir, removeTempDir } from './tempdir.js'

export const REDIS_SERVER = process.env.CONCORD_REDIS_SERVER ?? '/usr/bin/redis-server'

export interface RedisServer {
  host: string
  port: number
  /** redis://127.0.0.1:PORT (without the password) */
  url: string
  /** The current server process id (a restart changes it); for tests that check a kill. */
  readonly pid: number
  /** Graceful shutdown (SIGTERM). */
  stop(): Promise<void>
  /** SIGKILL, like a crash. */
  kill(): Promise<void>
  /** Starts it again on the same port. No persistence: the data is lost, like after a crash. */
  restart(): Promise<void>
  /** CLIENT KILL via a side connection, by type and/or client name; returns how many were killed. */
  clientKill(filter?: { type?: 'normal' | 'pubsub'; name?: string }): Promise<number>
  /** stop + remove the temp dir */
  close(): Promise<void>
}

export interface LaunchRedisOptions {
  dir: string
  port: number
  password?: string
  /** Extra `--option value` arguments (cluster mode). */
  extraArgs?: string[]
}

/** Spawns one redis-server without any persistence and waits until it answers PING. */
export async function launchRedis({
  dir,
  port,
  password,
  extraArgs = [],
}: LaunchRedisOptions): Promise<ServerProcess> {
  const logFile = join(dir, `redis-${port}.log`)
  const args = [
    '--port',
    String(port),
    '--bind',
    LOOPBACK,
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'no',
    '--daemonize',
    'no',
    // Keeps memory small and start-up fast; the tests hold little data.
    '--databases',
    '4',
    ...(password ? ['--requirepass', password] : []),
    ...extraArgs,
  ]
  const server = spawnServer({ command: REDIS_SERVER, args, logFile, cwd: dir })
  await waitUntilReady(server, async () => (await redisCommand(port, ['PING'], { password })) === 'PONG', {
    what: `redis-server on port ${port}`,
    logFile,
  })
  return server
}

export async function startRedis(opts: { password?: string } = {}): Promise<RedisServer> {
  const dir = makeTempDir('redis')
  let port = 0
  let server: ServerProcess
  try {
    server = await withPortRetry(async () => {
      port = await freePort()
      return launchRedis({ dir, port, password: opts.password })
    })
  } catch (error) {
    removeTempDir(dir)
    throw error
  }
  const resp: RespOptions = { password: opts.password }
  return {
    host: LOOPBACK,
    port,
    url: `redis://${LOOPBACK}:${port}`,
    get pid() {
      return server.pid
    },
    stop: () => server.stop('SIGTERM'),
    kill: () => server.kill(),
    async restart() {
      await server.stop('SIGTERM')
      server = await launchRedis({ dir, port, password: opts.password })
    },
    clientKill: (filter = {}) => clientKill(port, filter, resp),
    async close() {
      await server.stop('SIGTERM', 2_000)
      removeTempDir(dir)
    },
  }
}

/**
 * CLIENT KILL has no filter by client name, so list the clients (by type when asked), pick the
 * matching ones and kill them by ID; the side connection that lists them is left out.
 */
export async function clientKill(
  port: number,
  filter: { type?: 'normal' | 'pubsub'; name?: string },
  options: RespOptions = {},
): Promise<number> {
  const list = filter.type ? ['CLIENT', 'LIST', 'TYPE', filter.type] : ['CLIENT', 'LIST']
  const [ownId, listing] = await redisCommands(port, [['CLIENT', 'ID'], list], options)
  const ids = String(listing ?? '')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) =>
      Object.fromEntries(line.split(' ').map((field) => field.split('=', 2) as [string, string])),
    )
    .filter((client) => Number(client.id) !== ownId)
    .filter((client) => filter.name === undefined || client.name === filter.name)
    .map((client) => client.id as string)
  if (ids.length === 0) return 0
  const replies = await redisCommands(
    port,
    ids.map((id) => ['CLIENT', 'KILL', 'ID', id]),
    options,
  )
  return replies.reduce<number>((sum, reply) => sum + (typeof reply === 'number' ? reply : 0), 0)
}
