import { spawn } from 'node:child_process'
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Cleanup of every server and temp dir this process started, whatever way the process ends:
 * - normal end: the owners close their servers (global teardown, `close()` in tests);
 * - `exit`, SIGINT, SIGTERM, SIGHUP: a synchronous SIGKILL of what is still tracked here;
 * - SIGKILL or a crash of this process: a detached reaper (reaper-script.mjs) that polls our pid and
 *   then kills and removes what the record file still lists.
 * One reaper per process that starts servers: test workers that start their own servers get one too.
 */

const pids = new Set<number>()
const dirs = new Set<string>()
/** Dirs a detached `rm -rf` is removing: still recorded (for the reaper), but not ours to rmSync at exit. */
const removing = new Set<string>()
let recordDir: string | undefined
let recordFile: string | undefined
let handlersInstalled = false
/** Set once a signal or 'exit' reaped everything: a start-up still in flight must not leave new servers. */
let closing = false

function record(line: string): void {
  if (!recordFile) startReaper()
  appendFileSync(recordFile!, `${line}\n`)
}

function startReaper(): void {
  recordDir = mkdtempSync(join(tmpdir(), 'concord-reaper-'))
  recordFile = join(recordDir, 'records')
  appendFileSync(recordFile, `+dir ${recordDir}\n`)
  const script = fileURLToPath(new URL('./reaper-script.mjs', import.meta.url))
  // detached: its own session, so neither a terminal's Ctrl-C nor `timeout`'s group signal reaches it.
  const child = spawn(process.execPath, [script, String(process.pid), recordFile], {
    detached: true,
    stdio: 'ignore',
    cwd: '/',
  })
  child.unref()
  installHandlers()
}

/** True once this process began exiting: start-up failures after that are just the interruption. */
export function isClosing(): boolean {
  return closing
}

export function trackPid(pid: number): void {
  if (closing) {
    killGroupSync(pid)
    return
  }
  pids.add(pid)
  record(`+pid ${pid}`)
}

export function untrackPid(pid: number): void {
  if (!pids.delete(pid)) return
  record(`-pid ${pid}`)
}

export function trackDir(dir: string): void {
  if (closing) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error('the process is exiting: no new servers')
  }
  dirs.add(dir)
  record(`+dir ${dir}`)
}

export function untrackDir(dir: string): void {
  removing.delete(dir)
  if (!dirs.delete(dir)) return
  record(`-dir ${dir}`)
}

/**
 * Removes a dir in a detached `rm -rf`, without waiting. A PostgreSQL dir that tests filled with
 * databases can be gigabytes: removing it inline made the run's teardown take 10 s and more.
 * The dir stays recorded until rm is done, so the reaper still removes it if rm does not finish.
 */
export function removeDirDetached(dir: string): void {
  removing.add(dir)
  const child = spawn('rm', ['-rf', dir], { detached: true, stdio: 'ignore', cwd: '/' })
  child.once('exit', (code) => {
    if (code === 0) untrackDir(dir)
  })
  child.once('error', () => removing.delete(dir))
  child.unref()
}

/** SIGKILLs a server's whole process group (spawned detached, so pgid = pid). Synchronous. */
export function killGroupSync(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/** Kills every tracked server and removes every tracked dir, synchronously (usable in 'exit'). */
export function reapNow(): void {
  const pendingRemoval = removing.size > 0
  for (const pid of pids) killGroupSync(pid)
  pids.clear()
  for (const dir of dirs) {
    // Being removed by a detached rm already: blocking exit on it would undo the point of that.
    if (!removing.has(dir)) rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 })
  }
  dirs.clear()
  removing.clear()
  // Nothing left for the detached reaper (it finds no record file and just exits with us), unless a
  // detached rm is still at work: then the record stays, and the reaper removes whatever rm leaves.
  if (recordDir && !pendingRemoval) rmSync(recordDir, { recursive: true, force: true })
  recordDir = undefined
  recordFile = undefined
}

const signalNumbers = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const

function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', () => {
    closing = true
    reapNow()
  })
  for (const signal of Object.keys(signalNumbers) as (keyof typeof signalNumbers)[]) {
    process.on(signal, () => {
      // Someone else owns this signal (an app's graceful shutdown): leave the servers to it; the 'exit'
      // handler and the detached reaper still clean up. (vitest's own handler is a once-listener and is
      // already gone by now, so under vitest this is not the case.)
      if (process.listenerCount(signal) > 1) return
      closing = true
      reapNow()
      // Our listener replaced Node's default "die on signal": end the process as that would have,
      // unless something else (vitest) exits first.
      setTimeout(() => process.exit(128 + signalNumbers[signal]), 200)
    })
  }
}
