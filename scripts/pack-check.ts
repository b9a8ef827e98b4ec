// The package as users get it (issue 13): `npm pack` (prepack builds and strips the `source` condition), the
// tarball installed into fresh temporary projects (from the local npm cache when it can), and for each project:
// what it installed (nothing of a backend it did not ask for), its footprint, a consumer compiled with
// `strict`, `skipLibCheck: false` and `nodenext` importing every subpath its peers allow, each of those subpaths
// imported at run time by plain node; `attw` on the tarball; and smoke scripts against private Redis,
// PostgreSQL and NATS servers (test/support/services). Exits non-zero on any failure.
//
//   npm run pack-check                       the whole check (.ci/run runs it after npm test)
//   npm run pack-check -- --footprint-only   only install the projects and print what they weigh
//   PACK_CHECK_TARBALL=/path/concord.tgz     check that tarball instead of packing this tree
//   PACK_CHECK_KEEP=1                        keep the temporary projects (their path is printed)
import { spawn } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { lstat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type NatsServer, startNats } from '../test/support/services/nats.js'
import { type PostgresServer, startPostgres } from '../test/support/services/postgres.js'
import { type RedisServer, startRedis } from '../test/support/services/redis.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const consumerDir = join(root, 'scripts', 'pack-check', 'consumer')
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional?: boolean }>
}

/**
 * The optional peers each public subpath needs, for its declarations and at run time. A consumer project
 * imports exactly the subpaths whose peers it installed; a subpath missing here fails the check.
 */
const SUBPATH_PEERS: Record<string, string[]> = {
  '.': [],
  './errors': [],
  './cache': [],
  './db': [],
  './outbox': [],
  './broker': [],
  './saga': [],
  './checker': [],
  './memory': [],
  './redis': ['ioredis'],
  './pg': ['pg'],
  './pglite': ['@electric-sql/pglite'],
  './nats': ['@nats-io/transport-node', '@nats-io/jetstream'],
  './admin': ['fastify', 'prom-client'],
  './prometheus': ['prom-client'],
  './msgpack': ['msgpackr'],
  './otel': ['@opentelemetry/api'],
  './testing': ['vitest'],
  './kysely': ['kysely'],
  './drizzle': ['drizzle-orm'],
  './knex': ['knex'],
  './prisma': [],
}

interface Project {
  name: string
  /** Optional peers the user installs beside concord. */
  peers: string[]
  /** Optional peers the user installs as devDependencies (vitest for concord/testing): not in the footprint. */
  devPeers?: string[]
  /**
   * Type packages the user adds for them (devDependencies: not counted in the footprint). PGlite's own
   * declarations use Emscripten's types without depending on @types/emscripten (only a devDependency of
   * PGlite): with skipLibCheck false, a PGlite user needs it whether or not concord is there.
   */
  types: string[]
  /** Packages (a trailing `/*` for a scope) that must not be anywhere in node_modules. */
  forbidden: string[]
  /** Smoke scripts of scripts/pack-check/consumer run in this project, and the servers they need. */
  smoke: { file: string; needs: ('redis' | 'postgres' | 'nats')[] }[]
}

// vitest is not a peer (an optional peer the app has as a devDependency would count as production): the
// concord/testing user has it anyway.
const allPeers = [...Object.keys(manifest.peerDependencies), 'vitest']
const testPeers = ['vitest']
const PROJECTS: Project[] = [
  {
    name: 'cache-only',
    peers: ['ioredis'],
    types: [],
    forbidden: [
      '@electric-sql/pglite',
      'pg',
      '@nats-io/*',
      '@opentelemetry/*',
      'fastify',
      'msgpackr',
      'prom-client',
      'vitest',
    ],
    smoke: [{ file: 'cache-smoke.ts', needs: ['redis'] }],
  },
  {
    name: 'outbox-only',
    peers: ['pg', '@nats-io/transport-node', '@nats-io/jetstream'],
    types: ['@types/pg'],
    forbidden: [
      '@electric-sql/pglite',
      '@opentelemetry/*',
      'fastify',
      'ioredis',
      'msgpackr',
      'prom-client',
      'vitest',
    ],
    smoke: [{ file: 'outbox-smoke.ts', needs: ['postgres', 'nats'] }],
  },
  {
    // The demo's embedded mode: PGlite and the memory adapters, no server.
    name: 'embedded',
    peers: ['@electric-sql/pglite'],
    types: ['@types/emscripten'],
    forbidden: [
      'pg',
      '@nats-io/*',
      '@opentelemetry/*',
      'fastify',
      'ioredis',
      'msgpackr',
      'prom-client',
      'vitest',
    ],
    smoke: [],
  },
  {
    name: 'full',
    peers: allPeers.filter((p) => !testPeers.includes(p)),
    devPeers: testPeers,
    types: ['@types/pg', '@types/emscripten'],
    forbidden: [],
    smoke: [],
  },
]

/**
 * Failures known today, each with where it is fixed. A known failure must fail with this message; once it
 * passes, the check fails until its entry here is removed.
 */
const KNOWN_FAILURES: Record<string, RegExp> = {}

const footprintOnly = process.argv.includes('--footprint-only')
const failures: string[] = []
const passedKnown: string[] = []
const timings: string[] = []
const started = performance.now()

/** Records one check's outcome, held against KNOWN_FAILURES. */
function outcome(label: string, ok: boolean, detail = ''): void {
  const known = KNOWN_FAILURES[label]
  if (known && ok) {
    passedKnown.push(label)
    console.log(`  FIXED    ${label}: now passes; remove it from KNOWN_FAILURES in scripts/pack-check.ts`)
  } else if (known?.test(detail)) {
    console.log(`  known    ${label}: ${firstLine(detail)}`)
  } else if (!ok) {
    failures.push(`${label}: ${detail}`)
    console.log(`  FAIL     ${label}: ${detail}`)
  } else {
    console.log(`  ok       ${label}${detail ? `: ${detail}` : ''}`)
  }
}

const firstLine = (text: string) => text.trim().split('\n')[0] ?? ''

interface Run {
  code: number | null
  output: string
}

/** Runs a command to its end, capturing stdout and stderr together. */
function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv },
): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk
    })
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk
    })
    child.on('error', fail)
    child.on('close', (code) => done({ code, output }))
  })
}

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const t = performance.now()
  try {
    return await fn()
  } finally {
    timings.push(`${what} ${((performance.now() - t) / 1000).toFixed(1)} s`)
  }
}

/** The version of `name` installed in this repository: the projects install that one, found in the npm cache. */
function installedVersion(name: string): string {
  return (
    JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }
  ).version
}

async function pack(dir: string): Promise<string> {
  const given = process.env.PACK_CHECK_TARBALL
  if (given) return resolve(given)
  const packed = await run('npm', ['pack', '--pack-destination', dir, '--json'], { cwd: root })
  if (packed.code !== 0) throw new Error(`npm pack failed:\n${packed.output}`)
  // --json prints the prepack script's output first, then the JSON array.
  const json = packed.output.slice(packed.output.lastIndexOf('\n[\n') + 1)
  const [{ filename }] = JSON.parse(json) as [{ filename: string }]
  return join(dir, filename)
}

/** The packed package.json: no `source` condition reaches users, and every subpath is in SUBPATH_PEERS. */
async function checkManifest(tarball: string, dir: string): Promise<void> {
  const out = join(dir, 'manifest')
  mkdirSync(out)
  const untar = await run('tar', ['-xzf', tarball, '-C', out, 'package/package.json'], { cwd: dir })
  if (untar.code !== 0) throw new Error(`tar failed:\n${untar.output}`)
  const packed = JSON.parse(readFileSync(join(out, 'package', 'package.json'), 'utf8')) as typeof manifest
  const withSource = Object.entries(packed.exports)
    .filter(([, target]) => typeof target === 'object' && target !== null && 'source' in target)
    .map(([subpath]) => subpath)
  outcome('packed exports have no source condition', withSource.length === 0, withSource.join(', '))
  const subpaths = Object.keys(packed.exports).filter((s) => s !== './package.json')
  const unlisted = subpaths.filter((s) => !(s in SUBPATH_PEERS))
  const gone = Object.keys(SUBPATH_PEERS).filter((s) => !subpaths.includes(s))
  outcome(
    `every subpath (${subpaths.length}) listed in SUBPATH_PEERS`,
    unlisted.length + gone.length === 0,
    [...unlisted.map((s) => `${s} missing`), ...gone.map((s) => `${s} not exported`)].join(', '),
  )
  const notOptional = Object.keys(manifest.peerDependencies).filter(
    (p) => !manifest.peerDependenciesMeta[p]?.optional,
  )
  outcome('every peer dependency optional', notOptional.length === 0, notOptional.join(', '))
}

async function attw(tarball: string): Promise<void> {
  // esm-only: concord is an ES module package (type: module, exports with no require condition). That
  // profile still checks node16 from ESM and bundler resolution, and ignores node10 (no exports support) and
  // node16 from CJS (require of an ES module), which fail by design. --no-definitely-typed: no registry look-up.
  const result = await run(
    join(root, 'node_modules', '.bin', 'attw'),
    [tarball, '--profile', 'esm-only', '--no-definitely-typed', '--format', 'json'],
    { cwd: root },
  )
  let detail = ''
  try {
    const report = JSON.parse(result.output) as {
      analysis: { entrypoints: Record<string, unknown> }
      problems?: unknown
    }
    detail = `${Object.keys(report.analysis.entrypoints).length} entry points, profile esm-only`
    if (result.code !== 0) detail = JSON.stringify(report.problems ?? report, null, 1).slice(0, 4000)
  } catch {
    detail = result.output.slice(0, 4000)
  }
  outcome('attw reports no problem', result.code === 0, detail)
}

interface LockEntry {
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

/**
 * The production packages and the bytes of their files: what is reachable from the project's dependencies
 * (through dependencies, optional and peer dependencies, as installed), not through `devPeers`. npm's own
 * `dev` flags cannot be used: an optional peer of a production package (concord's `vitest`) counts as
 * production for npm once the project has it, even as a devDependency.
 */
async function footprint(project: Project, path: string): Promise<{ packages: number; bytes: number }> {
  const lock = JSON.parse(readFileSync(join(path, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>
  }
  const cut = new Set(project.devPeers ?? [])
  /** Node's lookup: `name` in `from`'s own node_modules, then in each parent's. */
  const resolveFrom = (from: string, name: string): string | undefined => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
      const candidate = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`
      if (candidate in lock.packages) return candidate
      if (!dir) return undefined
    }
  }
  const reached = new Set<string>()
  const visit = (from: string, names: string[]) => {
    for (const name of names) {
      if (cut.has(name)) continue
      const found = resolveFrom(from, name)
      // Optional packages of other platforms are in the lock file only.
      if (!found || reached.has(found) || !existsSync(join(path, found))) continue
      reached.add(found)
      const entry = lock.packages[found]!
      visit(found, [
        ...Object.keys(entry.dependencies ?? {}),
        ...Object.keys(entry.optionalDependencies ?? {}),
        ...Object.keys(entry.peerDependencies ?? {}),
      ])
    }
  }
  visit('', Object.keys(lock.packages['']?.dependencies ?? {}))
  let bytes = 0
  for (const found of reached) bytes += await dirBytes(join(path, found))
  return { packages: reached.size, bytes }
}

/** File bytes under `dir`, without nested node_modules (those are lock entries of their own). */
async function dirBytes(dir: string): Promise<number> {
  let total = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) total += await dirBytes(path)
    else total += (await lstat(path)).size
  }
  return total
}

/** Every package name in node_modules (nested ones too), from the lock file. */
function installedNames(project: string): string[] {
  const lock = JSON.parse(readFileSync(join(project, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, unknown>
  }
  return Object.keys(lock.packages)
    .filter((path) => path.includes('node_modules/'))
    .map((path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
}

const matches = (name: string, pattern: string) =>
  pattern.endsWith('/*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern

async function install(project: Project, dir: string, tarball: string): Promise<string> {
  const path = join(dir, project.name)
  mkdirSync(join(path, 'src'), { recursive: true })
  const pin = (names: string[]) => Object.fromEntries(names.map((n) => [n, installedVersion(n)]))
  writeFileSync(
    join(path, 'package.json'),
    JSON.stringify({
      name: `pack-check-${project.name}`,
      private: true,
      type: 'module',
      dependencies: { concord: `file:${tarball}`, ...pin(project.peers) },
      devDependencies: pin(['@types/node', ...project.types, ...(project.devPeers ?? [])]),
    }),
  )
  const installed = await timed(`install ${project.name}`, () =>
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: path }),
  )
  if (installed.code !== 0) throw new Error(`npm install in ${project.name} failed:\n${installed.output}`)
  return path
}

/**
 * Subpaths left out of the `skipLibCheck: false` compile, because their peer's own declarations fail it with or
 * without concord (they are still imported at run time). drizzle-orm's root types reach its gel and mysql2
 * dialects, whose drivers a PostgreSQL user does not install.
 */
const LIB_CHECK_EXEMPT: Record<string, string> = {
  'concord/drizzle': "drizzle-orm's declarations import gel and mysql2 types",
}

function subpathsFor(project: Project): string[] {
  return Object.entries(SUBPATH_PEERS)
    .filter(([, peers]) => peers.every((p) => [...project.peers, ...(project.devPeers ?? [])].includes(p)))
    .map(([subpath]) => (subpath === '.' ? 'concord' : `concord/${subpath.slice(2)}`))
}

/** Compiles the consumer (every allowed subpath, plus the project's smoke scripts) with the issue's settings. */
async function compile(project: Project, path: string, imports: string[]): Promise<boolean> {
  const lines = imports.map((name, i) => `import * as m${i} from '${name}'`)
  lines.push(`export const modules = [${imports.map((_, i) => `m${i}`).join(', ')}]`)
  writeFileSync(join(path, 'src', 'imports.ts'), `${lines.join('\n')}\n`)
  for (const { file } of project.smoke) {
    copyFileSync(join(consumerDir, file), join(path, 'src', file))
    copyFileSync(join(consumerDir, 'kit.ts'), join(path, 'src', 'kit.ts'))
  }
  writeFileSync(
    join(path, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        skipLibCheck: false,
        module: 'nodenext',
        moduleResolution: 'nodenext',
        target: 'es2022',
        rootDir: 'src',
        outDir: 'out',
        noEmitOnError: true,
      },
      include: ['src'],
    }),
  )
  const tsc = await timed(`tsc ${project.name}`, () =>
    run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: path }),
  )
  outcome(
    `${project.name}: tsc strict, skipLibCheck false, nodenext (${imports.length} subpaths)`,
    tsc.code === 0,
    tsc.output.trim().slice(0, 4000),
  )
  return tsc.code === 0
}

/** Plain node imports each allowed subpath from the installed tarball. */
async function importAtRuntime(project: Project, path: string, imports: string[]): Promise<void> {
  const script = `const out = {}
for (const name of JSON.parse(process.argv[1])) {
  try { out[name] = { exports: Object.keys(await import(name)).length } } catch (e) { out[name] = { error: String(e?.message ?? e) } }
}
console.log(JSON.stringify(out))`
  const result = await run(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(imports)], {
    cwd: path,
  })
  const report = JSON.parse(result.output) as Record<string, { exports?: number; error?: string }>
  for (const name of imports) {
    const r = report[name]
    outcome(
      `${project.name}: node imports ${name}`,
      (r?.exports ?? 0) > 0,
      r?.error ?? (r?.exports ? '' : 'no exports'),
    )
  }
}

interface Servers {
  redis?: RedisServer
  postgres?: PostgresServer
  nats?: NatsServer
}

async function smoke(project: Project, path: string, servers: Servers): Promise<void> {
  for (const { file } of project.smoke) {
    const env = {
      REDIS_URL: servers.redis?.url ?? '',
      DATABASE_URL: servers.postgres?.primary.url() ?? '',
      NATS_URL: servers.nats?.url ?? '',
    }
    const result = await timed(`smoke ${file}`, () =>
      run(process.execPath, [join('out', file.replace(/\.ts$/, '.js'))], { cwd: path, env }),
    )
    for (const line of result.output.trim().split('\n')) console.log(`           ${line}`)
    outcome(`${project.name}: ${file} against private servers`, result.code === 0, `exit ${result.code}`)
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'concord-pack-check-'))
  const servers: Servers = {}
  const footprints: string[] = []
  try {
    const tarball = await timed('build + npm pack', () => pack(dir))
    console.log(`pack-check: ${basename(tarball)} in ${dir}`)
    if (!footprintOnly) await checkManifest(tarball, dir)

    const needs = new Set(footprintOnly ? [] : PROJECTS.flatMap((p) => p.smoke.flatMap((s) => s.needs)))
    const starting = timed('servers', async () => {
      const [redis, postgres, nats] = await Promise.all([
        needs.has('redis') ? startRedis() : undefined,
        needs.has('postgres') ? startPostgres({ replica: false }) : undefined,
        needs.has('nats') ? startNats() : undefined,
      ])
      Object.assign(servers, { redis, postgres, nats })
    })
    starting.catch(() => {}) // awaited below; this only keeps a start-up failure from being unhandled meanwhile
    const typesChecked = footprintOnly ? Promise.resolve() : timed('attw', () => attw(tarball))
    const paths = await Promise.all(PROJECTS.map((project) => install(project, dir, tarball)))
    for (const [i, project] of PROJECTS.entries()) {
      const path = paths[i]!
      const { packages, bytes } = await footprint(project, path)
      footprints.push(
        `${project.name.padEnd(12)} ${String(packages).padStart(4)} packages ${mb(bytes).padStart(9)}`,
      )
      console.log(
        `${project.name} (concord + ${[...project.peers, ...(project.devPeers ?? []).map((p) => `${p} (dev)`)].join(' + ')}): ${packages} packages, ${mb(bytes)}`,
      )
      const names = installedNames(path)
      const unwanted = names.filter((name) => project.forbidden.some((pattern) => matches(name, pattern)))
      outcome(
        `${project.name}: installs none of ${project.forbidden.join(', ') || '(nothing forbidden)'}`,
        unwanted.length === 0,
        unwanted.join(', '),
      )
    }
    if (!footprintOnly) {
      // The compilers run side by side: each reads @types/node and zod's declarations in full (skipLibCheck false).
      const compiled = await Promise.all(
        PROJECTS.map((project, i) =>
          compile(
            project,
            paths[i]!,
            subpathsFor(project).filter((s) => !(s in LIB_CHECK_EXEMPT)),
          ),
        ),
      )
      for (const [i, project] of PROJECTS.entries()) {
        await importAtRuntime(project, paths[i]!, subpathsFor(project))
        if (compiled[i] && project.smoke.length > 0) {
          await starting
          await smoke(project, paths[i]!, servers)
        }
      }
    }
    await typesChecked
    await starting
    console.log(
      `\nfootprint (production dependencies; MB = 10^6 bytes of files):\n  ${footprints.join('\n  ')}`,
    )
    if (process.env.PACK_CHECK_KEEP) console.log(`kept: ${dir}`)
  } finally {
    await Promise.allSettled([servers.redis?.close(), servers.postgres?.close(), servers.nats?.close()])
    if (!process.env.PACK_CHECK_KEEP) rmSync(dir, { recursive: true, force: true })
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(0)
  console.log(`time: ${seconds} s (${timings.join(', ')})`)
  if (failures.length > 0 || passedKnown.length > 0) {
    console.log(
      `pack-check: ${failures.length} failed${passedKnown.length ? `, ${passedKnown.length} known failures now pass` : ''}`,
    )
    process.exit(1)
  }
  console.log('pack-check: all passed')
}

await main()
