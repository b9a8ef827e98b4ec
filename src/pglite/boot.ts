import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { PGlite, type PGliteOptions } from '@electric-sql/pglite'

/**
 * PGlite's start-up cost, paid once instead of per instance. A bare `PGlite.create()` compiles pglite.wasm
 * (9 MB) and, for a new database, runs initdb in a second instance plus initdb.wasm: seconds of CPU, with
 * the same result every time. Here the WebAssembly modules are compiled once per process, and a new
 * database starts from a template: a tarball of a data dir that initdb made and the caller's `setup`
 * (its migrations) then changed.
 *
 * Templates are kept in `cacheDir` (default `<os.tmpdir()>/concord-cache-pglite-<uid>/`), one file per
 * `<pglite version>-<key hash>.tar` (~40 MB). One is built when its file is absent: after a PGlite upgrade
 * or when the key (the migration set) changes; deleting the directory forces it. A build is written aside
 * and renamed into place, so a concurrent process never reads half a file. With `cacheDir: false` the
 * template lives in this process only. Each instance untars its own copy into its own file system: a
 * template is only read, never shared by two live databases.
 */
export interface PgliteBootOptions {
  /** A directory for the data files; in memory when absent. An existing database there is resumed. */
  dataDir?: string
  /** What the template holds beyond initdb: `key` names it (same key, same result), `setup` makes it. */
  template?: {
    /** Names the template: the same key must always give the same result. */
    key: string
    /** Makes it: applies the migrations to a fresh database. */
    setup: (db: PGlite) => Promise<void>
  }
  /** Where templates are kept across processes; false: in this process only. */
  cacheDir?: string | false
}

// 1 MB WAL segments instead of 16: a template is ~31 MB instead of 40, and every instance copies it.
const INITDB_ARGS = ['--wal-segsize=1']

// PGlite's defaults plus a smaller buffer pool: its shared memory is zeroed on every start (128 MB by
// default, the largest part of an instance's start), and an embedded shard's data is small.
const START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB']

/** Where initialised data directories are kept between starts, per user (under the OS temp dir). */
export const defaultPgliteCacheDir = (): string =>
  join(tmpdir(), `concord-cache-pglite-${process.getuid?.() ?? 'user'}`)

/** A PGlite started from the compiled modules and, for a new database, from the template. */
export async function bootPglite(options: PgliteBootOptions = {}): Promise<PGlite> {
  const artifacts = await loadArtifacts()
  const resumes = options.dataDir !== undefined && holdsDatabase(options.dataDir)
  const loadDataDir = resumes ? undefined : await template(artifacts, options)
  return PGlite.create({
    ...artifacts.modules,
    dataDir: options.dataDir,
    loadDataDir,
    startParams: START_PARAMS,
  })
}

// PGlite's own option types name the compiled modules (WebAssembly.Module): the tsconfig has no DOM lib, where
// that namespace is declared, so the type is taken from PGlite rather than written here.
type WasmModule = NonNullable<PGliteOptions['pgliteWasmModule']>

interface Artifacts {
  version: string
  modules: { pgliteWasmModule: WasmModule; initdbWasmModule: WasmModule; fsBundle: Blob }
}

let artifacts: Promise<Artifacts> | undefined

/** Compiles pglite.wasm and initdb.wasm and reads the file-system bundle, once per process. */
function loadArtifacts(): Promise<Artifacts> {
  artifacts ??= (async () => {
    const dist = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'))
    const [pgliteWasmModule, initdbWasmModule, bundle] = await Promise.all([
      readFile(join(dist, 'pglite.wasm')).then(compileWasm),
      readFile(join(dist, 'initdb.wasm')).then(compileWasm),
      readFile(join(dist, 'pglite.data')),
    ])
    const { version } = JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')) as {
      version: string
    }
    return { version, modules: { pgliteWasmModule, initdbWasmModule, fsBundle: new BytesBlob(bundle) } }
  })()
  // A failed compile is not remembered: the next boot tries again.
  artifacts.catch(() => {
    artifacts = undefined
  })
  return artifacts
}

// The tsconfig has no DOM lib, where WebAssembly's functions are declared; Node has them all the same.
const compileWasm = (bytes: Uint8Array): Promise<WasmModule> =>
  (
    globalThis as unknown as { WebAssembly: { compile(b: Uint8Array): Promise<WasmModule> } }
  ).WebAssembly.compile(bytes)

function holdsDatabase(dataDir: string): boolean {
  if (dataDir.startsWith('memory://')) return false
  return existsSync(join(dataDir.replace(/^file:\/\//, ''), 'PG_VERSION'))
}

// Templates of this process by file name (or key, without a cache dir): each built or read once.
const templates = new Map<string, Promise<BytesBlob>>()

/** The template's tarball: from memory, from the cache dir, or built (initdb, then `setup`). */
function template(artifacts: Artifacts, options: PgliteBootOptions): Promise<BytesBlob> {
  const cacheDir = options.cacheDir ?? defaultPgliteCacheDir()
  const key = options.template?.key ?? ''
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16)
  const initdb = createHash('sha256').update(INITDB_ARGS.join(' ')).digest('hex').slice(0, 8)
  const name = `${artifacts.version}-${initdb}-${key ? hash : 'initdb'}.tar`
  const id = cacheDir === false ? name : join(cacheDir, name)
  let found = templates.get(id)
  if (!found) {
    found = (async () => {
      if (cacheDir !== false && existsSync(id)) return new BytesBlob(await readFile(id))
      // A setup starts from the plain initdb template, so initdb runs once for every key.
      const base = key ? await template(artifacts, { cacheDir }) : undefined
      const db = await PGlite.create({
        ...artifacts.modules,
        loadDataDir: base,
        initDbStartParams: INITDB_ARGS,
        startParams: START_PARAMS,
      })
      let tarball: BytesBlob
      try {
        await options.template?.setup(db)
        tarball = new BytesBlob(new Uint8Array(await (await db.dumpDataDir('none')).arrayBuffer()))
      } finally {
        await db.close()
      }
      if (cacheDir !== false) store(id, tarball.content)
      return tarball
    })()
    templates.set(id, found)
    found.catch(() => templates.delete(id))
  }
  return found
}

/**
 * Bytes as a Blob whose `arrayBuffer()` is one copy. PGlite reads a data dir or bundle with it, and Node's
 * own Blob reads in chunks and joins them: ~0.2 s of CPU per instance for a template. Each call gets its
 * own copy, so no instance can change what the next one loads.
 */
class BytesBlob extends Blob {
  constructor(readonly content: Uint8Array) {
    super([content], { type: 'application/x-tar' })
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(this.content.slice().buffer)
  }
}

function store(file: string, tarball: Uint8Array): void {
  const building = `${file}.building-${process.pid}-${Date.now()}`
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    writeFileSync(building, tarball)
    renameSync(building, file)
  } catch {
    // A cache that cannot be written (read-only or full temp dir) only costs the next process an initdb.
    rmSync(building, { force: true })
  }
}
