import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chownSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { type RunAs, runCommand } from './process.js'
import { trackDir, untrackDir } from './reaper.js'
import { tempBase } from './tempdir.js'

/**
 * initdb is the slowest step of a PostgreSQL start (~0.7 s on an idle machine, several seconds on a busy
 * one) and its output is the same every time. So it runs once per machine, user and PostgreSQL version
 * into a cached template, and each start copies that (`cp -a` of ~25 MB).
 * The cache (`<tmp>/concord-cache-pg-<uid>/<version>-<args hash>`, ~25 MB) is the one thing the harness leaves
 * behind on purpose; CONCORD_PG_TEMPLATE=0 turns it off.
 */

// 1 MB WAL segments instead of 16: every copy (the template, pg_basebackup) moves 15 MB less.
const INITDB_ARGS = [
  '--wal-segsize=1',
  '-U',
  'postgres',
  '--auth=trust',
  '-E',
  'UTF8',
  '--locale=C',
  '--no-sync',
  '--no-instructions',
]

export interface InitOptions {
  env: NodeJS.ProcessEnv
  runAs?: RunAs
}

/** A fresh, initdb'd data dir at `dataDir` (which must not exist; its parent belongs to the pg user). */
export async function initDataDir(bin: string, dataDir: string, options: InitOptions): Promise<void> {
  if (process.env.CONCORD_PG_TEMPLATE === '0') {
    await runCommand(join(bin, 'initdb'), ['-D', dataDir, ...INITDB_ARGS], options)
    return
  }
  const template = await ensureTemplate(bin, options)
  await runCommand('cp', ['-a', template, dataDir], options)
}

async function ensureTemplate(bin: string, options: InitOptions): Promise<string> {
  const version = execFileSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' })
    .trim()
    .replace(/^\D+/, '')
    .replace(/\s.*$/, '')
  const owner = options.runAs?.uid ?? process.getuid?.() ?? 0
  const root = join(tempBase(options.runAs), `concord-cache-pg-${owner}`)
  // The initdb arguments are part of the key: changing them must not reuse an old template.
  const args = createHash('sha1').update(INITDB_ARGS.join(' ')).digest('hex').slice(0, 8)
  const template = join(root, `${version}-${args}`)
  if (existsSync(join(template, 'PG_VERSION'))) return template

  mkdirSync(root, { recursive: true, mode: 0o700 })
  if (options.runAs) chownSync(root, options.runAs.uid, options.runAs.gid)
  // Built aside and renamed into place, so a concurrent start never copies a half-written template;
  // tracked, so an interrupted build does not stay behind.
  const building = `${template}.building-${process.pid}-${Date.now()}`
  trackDir(building)
  try {
    await runCommand(join(bin, 'initdb'), ['-D', building, ...INITDB_ARGS], options)
    renameSync(building, template)
  } catch (error) {
    // Losing the rename race to a concurrent start is fine: its template is as good as ours.
    if (!existsSync(join(template, 'PG_VERSION'))) throw error
  } finally {
    rmSync(building, { recursive: true, force: true })
    untrackDir(building)
  }
  return template
}
