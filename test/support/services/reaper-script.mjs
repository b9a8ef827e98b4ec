// The detached reaper: started once per process that spawns servers (see reaper.ts). It outlives that
// process on purpose, so that a SIGKILLed test runner still leaves no servers or temp dirs behind.
// Plain JavaScript without dependencies so that it starts in a few ms with `node` alone.
// Usage: node reaper-script.mjs <parentPid> <recordFile>
// The record file holds lines `+pid N`, `-pid N`, `+dir PATH`, `-dir PATH` appended by the parent.
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'

const parentPid = Number(process.argv[2])
const recordFile = process.argv[3]

function alive(pid) {
  // A killed parent stays a zombie until its own parent reaps it, and kill(pid, 0) still succeeds on a
  // zombie; in containers that reaping can take a while, so read the state from /proc when there is one.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch (error) {
    if (error.code === 'ENOENT') return false
  }
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return error.code === 'EPERM'
  }
}

function readRecords() {
  const pids = new Set()
  const dirs = new Set()
  let text = ''
  try {
    text = readFileSync(recordFile, 'utf8')
  } catch {
    // The parent removes the file when it cleaned up itself: nothing left to do.
  }
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ')
    if (space < 0) continue
    const op = line.slice(0, space)
    const value = line.slice(space + 1)
    if (op === '+pid') pids.add(Number(value))
    else if (op === '-pid') pids.delete(Number(value))
    else if (op === '+dir') dirs.add(value)
    else if (op === '-dir') dirs.delete(value)
  }
  return { pids, dirs }
}

function killGroup(pid) {
  // Servers run in their own process group (spawned detached): the group takes PostgreSQL's backends too.
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}

/**
 * Servers run with their cwd inside their temp dir, and the dir is recorded before the server is
 * spawned. So this also finds a server whose pid never reached the record file (its parent was
 * killed between spawn() and the append). Linux only (/proc); elsewhere the pid records must do.
 */
function killByCwd(dirs) {
  let entries = []
  try {
    entries = readdirSync('/proc')
  } catch {
    return
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let cwd
    try {
      cwd = readlinkSync(`/proc/${entry}/cwd`).replace(/ \(deleted\)$/, '')
    } catch {
      continue
    }
    for (const dir of dirs) {
      if (cwd === dir || cwd.startsWith(`${dir}/`)) killGroup(Number(entry))
    }
  }
}

function removeDirs(dirs) {
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 })
    } catch {
      // best effort: a dir we cannot remove must not keep the reaper alive
    }
  }
}

function reap() {
  const { pids, dirs } = readRecords()
  for (const pid of pids) killGroup(pid)
  killByCwd(dirs)
  removeDirs(dirs)
  rmSync(recordFile, { force: true })
}

// Terminal signals are the parent's business; the reaper only ends when the parent is gone.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {})

setInterval(() => {
  if (alive(parentPid)) return
  reap()
  process.exit(0)
}, 500)
