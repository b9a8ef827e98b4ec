import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { looksLikePortInUse, PortInUseError } from './ports.js'
import { killGroupSync, trackPid, untrackPid } from './reaper.js'

export interface RunAs {
  uid: number
  gid: number
}

export interface SpawnServerOptions {
  command: string
  args: string[]
  /** stdout and stderr go here (appended), so a failed start-up can show why. */
  logFile: string
  cwd?: string
  env?: NodeJS.ProcessEnv
  runAs?: RunAs
}

/**
 * One long-running server process that we hold as a child, so we can signal it and see it exit.
 * It runs in its own process group (detached): a SIGKILL to the group also takes PostgreSQL's backends,
 * and a Ctrl-C in the terminal reaches only the test runner, whose cleanup then decides.
 */
export class ServerProcess {
  readonly pid: number
  readonly exited: Promise<void>
  #child: ChildProcess
  #running = true

  constructor(options: SpawnServerOptions) {
    const log = openSync(options.logFile, 'a')
    try {
      this.#child = spawn(options.command, options.args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        detached: true,
        stdio: ['ignore', log, log],
        ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
      })
    } finally {
      closeSync(log)
    }
    if (this.#child.pid === undefined) throw new Error(`could not spawn ${options.command}`)
    this.pid = this.#child.pid
    trackPid(this.pid)
    // An unclosed server must not keep a test worker alive; the reaper handles it instead.
    this.#child.unref()
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', () => {
        this.#running = false
        untrackPid(this.pid)
        resolve()
      })
    })
  }

  get running(): boolean {
    return this.#running
  }

  /** Asks the server to shut down with `signal`; SIGKILLs it if it has not exited after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<void> {
    if (!this.#running) return
    try {
      process.kill(this.pid, signal)
    } catch {
      // already gone
    }
    // The ref'd timer also keeps the event loop alive until the (unref'd) child has exited.
    const timer = setTimeout(() => killGroupSync(this.pid), graceMs)
    await this.exited
    clearTimeout(timer)
  }

  /** SIGKILL to the whole group, like a crash; resolves when the server process has exited. */
  async kill(): Promise<void> {
    if (!this.#running) return
    killGroupSync(this.pid)
    // The child is unref'd: without a ref'd handle a plain script would exit while it waits here.
    const keepAlive = setInterval(() => {}, 1_000)
    await this.exited
    clearInterval(keepAlive)
    await groupGone(this.pid)
  }
}

/** Waits (bounded) until no process of the group is left, so a restart does not race dying backends. */
async function groupGone(pgid: number, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      process.kill(-pgid, 0)
    } catch {
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export function spawnServer(options: SpawnServerOptions): ServerProcess {
  return new ServerProcess(options)
}

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** A short-lived helper command (initdb, pg_basebackup, redis-cli): resolves with its output, rejects with it. */
export function runCommand(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; runAs?: RunAs; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: options.timeoutMs ?? 30_000,
      killSignal: 'SIGKILL',
      ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
    })
    // Tracked too: a helper (initdb, pg_basebackup) must not outlive an interrupted start-up.
    if (child.pid !== undefined) trackPid(child.pid)
    let output = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
    })
    child.once('error', reject)
    child.once('close', (code, signal) => {
      if (child.pid !== undefined) untrackPid(child.pid)
      if (code === 0) resolve(output)
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit ${code}`}):\n${output}`))
    })
  })
}

/**
 * Polls `probe` until it returns true. Fails fast when the server exits (with PortInUseError when its
 * log says the port was taken, so the caller can retry on another port), and with the log's tail on
 * timeout. On failure the server is killed.
 */
export async function waitUntilReady(
  server: ServerProcess,
  probe: () => Promise<boolean>,
  { what, logFile, timeoutMs = 20_000 }: { what: string; logFile: string; timeoutMs?: number },
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    if (!server.running) {
      const tail = logTail(logFile)
      if (looksLikePortInUse(tail)) throw new PortInUseError(`${what}: port in use\n${tail}`)
      throw new Error(`${what} exited during start-up; log ${logFile}:\n${tail}`)
    }
    try {
      if (await probe()) return
    } catch (error) {
      lastError = error
    }
    if (Date.now() > deadline) {
      await server.kill()
      const reason = lastError instanceof Error ? ` (last error: ${lastError.message})` : ''
      throw new Error(
        `${what} not ready after ${timeoutMs} ms${reason}; log ${logFile}:\n${logTail(logFile)}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
