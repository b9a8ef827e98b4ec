import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import type { NatsServer, PostgresServer, RedisServer } from '../../../test/support/services/index.js'
import { mountAdmin } from '../admin.js'
import { Directory } from '../gateway/directory.js'
import { createGateway } from '../gateway/gateway.js'
import { httpTransport } from '../gateway/transport.js'
import { type RealEnv, realEnv, realInfra } from '../platform/real.js'
import { type Progress, quiet } from '../progress.js'
import { prepare } from '../shop.js'
import type { InstanceConfig } from './instance.js'

const root = fileURLToPath(new URL('../../..', import.meta.url))

/** The servers the launcher started itself (absent when the environment named them). */
export interface Servers {
  redis: RedisServer
  nats: NatsServer
  postgres: PostgresServer[]
}

export interface RealShop {
  readonly baseUrl: string
  readonly dashboardUrl: string
  readonly env: RealEnv
  readonly servers?: Servers
  /** Instance name -> its process (kill one to test failover) and its base URL. */
  readonly processes: ReadonlyMap<string, ChildProcess>
  readonly urls: ReadonlyMap<string, string>
  /** Starts (again) the process of one instance, e.g. after a kill. */
  restart(instance: string): Promise<void>
  close(): Promise<void>
}

/**
 * `--real`: the shop on real servers, one process per service instance, the gateway in this process.
 * Servers come from the environment (see platform/real.ts) or, when none is named, from the test harness:
 * Redis, NATS JetStream and three PostgreSQL primaries each with a streaming replica, all private.
 */
export async function launchReal(
  flags: {
    port: number
    instances: number
    seed: boolean
    adminToken: string
    selfCheck?: boolean
    progress?: Progress
    /** One instance's environment, when it differs from the shared one (verify routes each through its proxies). */
    instanceEnv?: (instance: string, env: RealEnv) => RealEnv
    /**
     * The WAL change feed (run by product-1): false turns it off, like `SHOP_CHANGE_FEED=off`.
     * @default true
     */
    changeFeed?: boolean
  },
  /** The servers to use, or a function that starts them (run while the instance processes load). */
  given?: RealEnv | (() => Promise<RealEnv>),
): Promise<RealShop> {
  const progress = flags.progress ?? quiet
  const closers: (() => Promise<unknown>)[] = []
  const directory = Directory.of(flags.instances)
  const ports = new Map(
    await Promise.all(directory.all().map(async (name) => [name, await freePort()] as const)),
  )
  const urls = new Map([...ports].map(([name, port]) => [name, `http://127.0.0.1:${port}`]))
  const processes = new Map<string, ChildProcess>()
  closers.unshift(async () => {
    await Promise.all([...processes.values()].map(stopChild))
  })
  const spawnInstance = (name: string) => {
    const script = 'examples/shop/real/instance.ts'
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', script, '--name', name, '--port', String(ports.get(name))],
      { cwd: root, env: process.env, stdio: ['pipe', 'pipe', 'inherit'] },
    )
    // A child that died before reading its configuration: waitForLine reports the exit, not this EPIPE.
    child.stdin!.on('error', () => undefined)
    processes.set(name, child)
    return child
  }
  const configure = async (name: string, child: ChildProcess, shared: RealEnv) => {
    const listening = waitForLine(child, `listening ${name}`, 180_000)
    const own = flags.instanceEnv?.(name, shared) ?? shared
    const env = shared.SHOP_CHANGE_FEED ? { ...own, SHOP_CHANGE_FEED: shared.SHOP_CHANGE_FEED } : own
    child.stdin!.end(`${JSON.stringify({ env, urls: Object.fromEntries(urls) } satisfies InstanceConfig)}\n`)
    await listening
  }

  let servers: Servers | undefined
  let env: RealEnv
  let infra: ReturnType<typeof realInfra>
  try {
    // The instance processes start first: loading their modules is most of their start-up, needs no
    // server, and so runs while the servers start. Each then waits for its configuration on stdin.
    const children = new Map(directory.all().map((name) => [name, spawnInstance(name)]))
    if (typeof given === 'function') env = await progress.step('servers', given)
    else if (given) env = given
    else if (process.env.SHOP_SHARDS) env = realEnv.parse(process.env)
    else ({ env, servers } = await progress.step('servers', () => startServers(closers)))
    if (flags.changeFeed === false || process.env.SHOP_CHANGE_FEED === 'off')
      env = { ...env, SHOP_CHANGE_FEED: 'off' }

    // This process keeps its own connections for the admin side (status, checker, tracer).
    infra = realInfra(env)
    closers.push(() => infra.close())
    await prepare(infra, flags.seed, progress)
    await progress.step('instances', () =>
      Promise.all([...children].map(([name, child]) => configure(name, child, env))),
    )
  } catch (error) {
    for (const close of closers) await close().catch(() => undefined)
    throw error
  }

  const transport = httpTransport(urls, 60_000)
  let admin: ReturnType<typeof mountAdmin> | undefined
  const gateway = createGateway(directory, transport, {
    extra: (app) => {
      admin = mountAdmin(app, {
        infra,
        directory,
        transport,
        token: flags.adminToken,
        registry: new Registry(),
        selfCheck: flags.selfCheck,
      })
    },
    onProductWrite: (product) => admin?.track(product),
  })
  await progress.step('gateway', () => gateway.listen({ host: '127.0.0.1', port: flags.port }))
  closers.unshift(async () => {
    await admin?.close()
    await gateway.close()
    await transport.close?.()
  })
  const { port } = gateway.server.address() as { port: number }
  const baseUrl = `http://127.0.0.1:${port}`
  return {
    baseUrl,
    dashboardUrl: admin!.url(baseUrl),
    env,
    servers,
    processes,
    urls,
    async restart(name) {
      const old = processes.get(name)
      if (old) await stopChild(old)
      await configure(name, spawnInstance(name), env)
    },
    async close() {
      for (const close of closers) await close().catch(() => undefined)
    },
  }
}

async function startServers(
  closers: (() => Promise<unknown>)[],
): Promise<{ env: RealEnv; servers: Servers }> {
  const harness = await import('../../../test/support/services/index.js')
  const [redis, nats, ...pairs] = await Promise.all([
    harness.startRedis(),
    harness.startNats(),
    harness.startPostgres({ replica: true }),
    harness.startPostgres({ replica: true }),
    harness.startPostgres({ replica: true }),
  ])
  closers.push(() => Promise.all([redis.close(), nats.close(), ...pairs.map((p) => p.close())]))
  const [search, ...shards] = await Promise.all([
    pairs[0]!.createDatabase('search'),
    ...pairs.map((pair) => pair.createDatabase('shop')),
  ])
  return {
    env: {
      SHOP_SHARDS: shards.map((db) => `${db.primaryUrl},${db.replicaUrl}`).join(';'),
      SHOP_SEARCH_DB: search.primaryUrl,
      REDIS_URL: redis.url,
      NATS_URL: nats.url,
    },
    servers: { redis, nats, postgres: pairs },
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function waitForLine(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const what = text.replace('listening ', '')
    if (child.exitCode !== null || child.signalCode !== null)
      return reject(new Error(`${what} exited with ${child.exitCode ?? child.signalCode} before it listened`))
    let seen = ''
    const timer = setTimeout(() => reject(new Error(`no "${text}" after ${timeoutMs} ms`)), timeoutMs)
    child.stdout!.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk.toString().includes('listening') ? '' : chunk)
      seen += chunk
      if (seen.includes(text)) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited with ${code} before it listened`))
    })
  })
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await once(child, 'exit')
  clearTimeout(timer)
}
