import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { waitFor } from '../wait.js'
import { timed } from './debug.js'
import { uniqueName } from './names.js'
import {
  createDatabase,
  pgReady,
  pgUrl,
  queryOne,
  replicaLag,
  waitForReplica,
  withClient,
} from './pg-admin.js'
import { initDataDir } from './pg-template.js'
import { freePort, LOOPBACK, withPortRetry } from './ports.js'
import { type RunAs, runCommand, type ServerProcess, spawnServer, waitUntilReady } from './process.js'
import { makeTempDir, removeTempDir } from './tempdir.js'

export interface PgNode {
  host: string
  port: number
  /** postgres://postgres@127.0.0.1:PORT/<database, default postgres> */
  url(database?: string): string
  /** The current postmaster's process id (a restart changes it); for tests that check a kill. */
  readonly pid: number
  /** Fast shutdown (SIGINT). */
  stop(): Promise<void>
  /** SIGKILL of the postmaster and its backends, like a crash. */
  kill(): Promise<void>
  /** Starts it again on the same port and data dir (crash recovery after a kill). */
  restart(): Promise<void>
}

export interface PostgresServer {
  /** The current primary: after `promote()`, the promoted node. */
  readonly primary: PgNode
  /** The current replica: none after `promote()` until `startReplica()`. */
  readonly replica?: PgNode
  /** A database with a unique name; with a replica, returns once the replica has replayed it. */
  createDatabase(prefix: string): Promise<{ name: string; primaryUrl: string; replicaUrl?: string }>
  pauseReplay(): Promise<void>
  resumeReplay(): Promise<void>
  replicaLag(): Promise<{ bytes: number; seconds: number }>
  /** Until the replica's replay LSN reaches the primary's current LSN. */
  waitForReplica(): Promise<void>
  /**
   * Stops the replica's streaming (its primary_conninfo emptied and reloaded): what the primary commits from now
   * on never reaches it, as in a failover after an asynchronous primary's last commits. (A paused replay is not
   * enough: a promotion replays everything received first.) `promote()` restores the setting.
   */
  stopStreaming(): Promise<void>
  /**
   * Failover: `pg_ctl promote` on the replica, which becomes `primary` (on a new timeline); the old primary is
   * SIGKILLed first (`oldPrimary: 'kill'`, the default: what it had not streamed yet is lost), stopped fast
   * (`'stop'`) or left running (`'keep'`, two primaries: a split brain). Afterwards there is no replica.
   */
  promote(opts?: { oldPrimary?: 'kill' | 'stop' | 'keep' }): Promise<{ primary: PgNode; old: PgNode }>
  /**
   * A new streaming replica of the current primary (pg_basebackup into a fresh data dir), on `port`: by default
   * the port of a node that is no longer running (the old primary's after `promote()`, so a client's static
   * node list finds it again), else a free one. Returns once it accepts queries.
   */
  startReplica(opts?: { port?: number }): Promise<PgNode>
  close(): Promise<void>
}

/** The newest installed PostgreSQL's bin dir (Debian: /usr/lib/postgresql/<major>/bin). */
export function pgBinDir(): string {
  if (process.env.CONCORD_PG_BIN) return process.env.CONCORD_PG_BIN
  const root = '/usr/lib/postgresql'
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  if (!majors[0]) throw new Error(`no PostgreSQL found under ${root}; run scripts/setup.sh`)
  return join(root, majors[0], 'bin')
}

let postgresUser: RunAs | undefined | null = null

/** PostgreSQL refuses to run as root: as root, run its binaries as the `postgres` user. */
function runAs(): RunAs | undefined {
  if (postgresUser !== null) return postgresUser
  if (process.getuid?.() !== 0) {
    postgresUser = undefined
  } else {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
    postgresUser = { uid: id('-u'), gid: id('-g') }
  }
  return postgresUser
}

/**
 * Small, fast and disposable: nothing here needs to survive a power cut. Every server runs with
 * `wal_level = logical`, so change feeds (concord/pg's createChangeFeed) can decode a primary's WAL, and a
 * replica promoted by a failover can take a new feed at once (a standby at `replica` would need a restart).
 */
function serverSettings(port: number, socketDir: string): string[] {
  const settings: Record<string, string | number> = {
    port,
    listen_addresses: LOOPBACK,
    unix_socket_directories: socketDir,
    shared_buffers: '16MB',
    max_connections: 100,
    fsync: 'off',
    full_page_writes: 'off',
    wal_level: 'logical',
    // The replica's stream, pg_basebackup's, and a few change feeds' (one slot and one sender each).
    max_wal_senders: 10,
    max_replication_slots: 10,
    hot_standby: 'on',
    huge_pages: 'off',
    // A replica that lost its primary (restart/kill in a fault test) retries quickly.
    wal_retrieve_retry_interval: '100ms',
    wal_receiver_status_interval: '1s',
    logging_collector: 'off',
  }
  return Object.entries(settings).flatMap(([key, value]) => ['-c', `${key}=${value}`])
}

class Node implements PgNode {
  readonly host = LOOPBACK
  #server: ServerProcess | undefined

  /** Whether its postmaster is up (false after kill/stop). */
  get running(): boolean {
    return this.#server?.running ?? false
  }

  constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly baseDir: string,
    private readonly what: string,
  ) {}

  get pid(): number {
    if (!this.#server) throw new Error(`postgres ${this.what} was never started`)
    return this.#server.pid
  }

  url(database = 'postgres'): string {
    return pgUrl(this.port, database)
  }

  async start(): Promise<void> {
    const logFile = join(this.baseDir, `${this.what}.log`)
    const server = spawnServer({
      command: join(pgBinDir(), 'postgres'),
      args: ['-D', this.dataDir, ...serverSettings(this.port, this.baseDir)],
      logFile,
      cwd: this.baseDir,
      env: pgEnv(this.baseDir),
      runAs: runAs(),
    })
    this.#server = server
    await waitUntilReady(server, () => pgReady(this.url()), {
      what: `postgres ${this.what} on port ${this.port}`,
      logFile,
    })
  }

  stop = async (): Promise<void> => {
    await this.#server?.stop('SIGINT')
  }

  kill = async (): Promise<void> => {
    await this.#server?.kill()
  }

  restart = async (): Promise<void> => {
    await this.stop()
    await this.start()
  }
}

function pgEnv(home: string): NodeJS.ProcessEnv {
  // No PG* variables from the caller's environment may redirect our commands to another server.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')))
  return { ...env, LC_ALL: 'C', LANG: 'C', HOME: home }
}

/** Starts a node on a fresh port, retrying on another port if it was taken in between. */
async function startNode(dataDir: string, baseDir: string, what: string): Promise<Node> {
  return withPortRetry(async () => {
    const node = new Node(await freePort(), dataDir, baseDir, what)
    await node.start()
    return node
  })
}

/** A copy of a running server's data dir set up to stream from it (-R: standby.signal and primary_conninfo). */
function baseBackup(
  fromPort: number,
  dataDir: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  user: RunAs | undefined,
): Promise<string> {
  // A fast checkpoint avoids waiting for a spread one.
  return runCommand(
    join(pgBinDir(), 'pg_basebackup'),
    [
      ...['-h', LOOPBACK, '-p', String(fromPort), '-U', 'postgres', '-D', dataDir],
      ...['-R', '-X', 'stream', '--checkpoint=fast', '--no-sync'],
    ],
    { cwd, env, runAs: user },
  )
}

export async function startPostgres(opts: { replica?: boolean } = {}): Promise<PostgresServer> {
  const withReplica = opts.replica ?? true
  const bin = pgBinDir()
  const user = runAs()
  const dir = makeTempDir('pg', user)
  const env = pgEnv(dir)
  const nodes: Node[] = []
  try {
    const primaryDir = join(dir, 'primary')
    await timed('postgres initdb', () => initDataDir(bin, primaryDir, { env, runAs: user }))
    const primary = await timed('postgres primary', () => startNode(primaryDir, dir, 'primary'))
    nodes.push(primary)
    if (withReplica) {
      const replicaDir = join(dir, 'replica')
      await timed('postgres basebackup', () => baseBackup(primary.port, replicaDir, dir, env, user))
      nodes.push(await timed('postgres replica', () => startNode(replicaDir, dir, 'replica')))
    }
  } catch (error) {
    await Promise.all(nodes.map((node) => node.kill()))
    removeTempDir(dir)
    throw error
  }
  let [primary, replica] = nodes as [Node, Node | undefined]
  let rebuilt = 0
  const needReplica = (what: string): Node => {
    if (!replica) throw new Error(`${what}: this PostgresServer was started without a replica`)
    return replica
  }
  return {
    get primary() {
      return primary
    },
    get replica() {
      return replica
    },
    createDatabase: (prefix) => createDatabase(primary.port, replica?.port, uniqueName(prefix)),
    async pauseReplay() {
      await withClient(needReplica('pauseReplay').url(), (client) =>
        client.query('select pg_wal_replay_pause()'),
      )
    },
    async resumeReplay() {
      await withClient(needReplica('resumeReplay').url(), (client) =>
        client.query('select pg_wal_replay_resume()'),
      )
    },
    replicaLag: () => replicaLag(primary.url(), needReplica('replicaLag').url()),
    waitForReplica: () => waitForReplica(primary.url(), needReplica('waitForReplica').url()),
    async stopStreaming() {
      const url = needReplica('stopStreaming').url()
      await withClient(url, async (client) => {
        await client.query(`ALTER SYSTEM SET primary_conninfo = ''`)
        await client.query('SELECT pg_reload_conf()')
      })
      await waitFor(
        async () =>
          (await queryOne<{ n: number }>(url, 'SELECT count(*)::int AS n FROM pg_stat_wal_receiver')).n === 0,
        { timeoutMs: 10_000, what: 'the replica to stop streaming' },
      )
    },
    async promote(opts = {}) {
      const promoted = needReplica('promote')
      const old = primary
      const how = opts.oldPrimary ?? 'kill'
      if (how === 'kill') await old.kill()
      else if (how === 'stop') await old.stop()
      // -w: returns once the node left recovery and accepts writes.
      await runCommand(join(bin, 'pg_ctl'), ['promote', '-w', '-t', '60', '-D', promoted.dataDir], {
        cwd: dir,
        env,
        runAs: user,
      })
      // A setting stopStreaming() left would be copied into the next replica's data dir.
      await withClient(promoted.url(), (client) => client.query('ALTER SYSTEM RESET primary_conninfo'))
      primary = promoted
      replica = undefined
      return { primary, old }
    },
    async startReplica(opts = {}) {
      if (replica) throw new Error('startReplica: this PostgresServer already has a replica')
      const port = opts.port ?? nodes.find((n) => !n.running && n !== primary)?.port ?? (await freePort())
      const what = `replica${++rebuilt}`
      const dataDir = join(dir, what)
      await timed('postgres basebackup', () => baseBackup(primary.port, dataDir, dir, env, user))
      const node = new Node(port, dataDir, dir, what)
      nodes.push(node)
      await node.start()
      replica = node
      return node
    },
    async close() {
      // The data is thrown away: no shutdown checkpoint to wait for, just end the processes. The dir
      // can hold gigabytes of test databases: it goes in the background.
      await Promise.all(nodes.map((node) => node.kill()))
      removeTempDir(dir, { detached: true })
    },
  }
}
