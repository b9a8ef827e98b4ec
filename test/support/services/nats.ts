import { connect } from 'node:net'
import { join } from 'node:path'
import { freePort, LOOPBACK, withPortRetry } from './ports.js'
import { type ServerProcess, spawnServer, waitUntilReady } from './process.js'
import { makeTempDir, removeTempDir } from './tempdir.js'

export const NATS_SERVER = process.env.CONCORD_NATS_SERVER ?? '/usr/sbin/nats-server'

export interface NatsServer {
  host: string
  port: number
  /** nats://127.0.0.1:PORT */
  url: string
  /** The current server process id (a restart changes it); for tests that check a kill. */
  readonly pid: number
  /** Graceful shutdown (SIGTERM). */
  stop(): Promise<void>
  /** SIGKILL, like a crash. */
  kill(): Promise<void>
  /** Starts it again on the same port and JetStream store dir: streams survive. */
  restart(): Promise<void>
  /** stop + remove the temp dir */
  close(): Promise<void>
}

/** Ready when a client connection receives the server's INFO line (JetStream is up before the listener). */
function natsInfo(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: LOOPBACK, port })
    socket.setTimeout(1_000, () => socket.destroy(new Error('no INFO from nats-server')))
    socket.once('error', reject)
    socket.once('data', (chunk) => {
      socket.destroy()
      resolve(chunk.toString('utf8').startsWith('INFO '))
    })
  })
}

async function launchNats(dir: string, port: number): Promise<ServerProcess> {
  const logFile = join(dir, 'nats.log')
  const server = spawnServer({
    command: NATS_SERVER,
    args: ['-js', '-sd', join(dir, 'js'), '-a', LOOPBACK, '-p', String(port), '-l', logFile],
    logFile,
    cwd: dir,
  })
  await waitUntilReady(server, () => natsInfo(port), { what: `nats-server on port ${port}`, logFile })
  return server
}

export async function startNats(): Promise<NatsServer> {
  const dir = makeTempDir('nats')
  let port = 0
  let server: ServerProcess
  try {
    server = await withPortRetry(async () => {
      port = await freePort()
      return launchNats(dir, port)
    })
  } catch (error) {
    removeTempDir(dir)
    throw error
  }
  return {
    host: LOOPBACK,
    port,
    url: `nats://${LOOPBACK}:${port}`,
    get pid() {
      return server.pid
    },
    stop: () => server.stop('SIGTERM'),
    kill: () => server.kill(),
    async restart() {
      await server.stop('SIGTERM')
      server = await launchNats(dir, port)
    },
    async close() {
      // The store is thrown away with the dir: no need for a graceful JetStream shutdown.
      await server.kill()
      removeTempDir(dir)
    },
  }
}
