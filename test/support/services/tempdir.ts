import { chmodSync, chownSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { RunAs } from './process.js'
import { removeDirDetached, trackDir, untrackDir } from './reaper.js'

/**
 * A fresh private dir under os.tmpdir(), registered with the reaper. With `owner`, it is handed to that
 * user (PostgreSQL refuses to run as root and wants a 0700 data dir's parent it can use).
 */
export function makeTempDir(prefix: string, owner?: RunAs): string {
  const dir = mkdtempSync(join(tempBase(owner), `concord-${prefix}-`))
  trackDir(dir)
  chmodSync(dir, 0o700)
  if (owner) chownSync(dir, owner.uid, owner.gid)
  return dir
}

/** Removes the dir now; with `detached`, in a background `rm -rf` that close() does not wait for. */
export function removeTempDir(dir: string, { detached = false }: { detached?: boolean } = {}): void {
  if (detached) {
    removeDirDetached(dir)
    return
  }
  rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 50 })
  untrackDir(dir)
}

/** os.tmpdir(), unless `owner` (another user) could not reach it: then /tmp. */
export function tempBase(owner?: RunAs): string {
  return owner && !traversableByOthers(tmpdir()) ? '/tmp' : tmpdir()
}

/** Can any user reach entries below `dir` (o+x on it and every ancestor)? A private TMPDIR is not. */
function traversableByOthers(dir: string): boolean {
  for (let current = dir; ; current = dirname(current)) {
    try {
      if ((statSync(current).mode & 0o001) === 0) return false
    } catch {
      return false
    }
    if (dirname(current) === current) return true
  }
}
