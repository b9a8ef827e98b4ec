import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// The packaging rules, checked on the source: a backend's client is imported only in that backend's folder (so
// an install without it never loads it), and folders meet only at each other's index.ts (public) or kit.ts (the
// parts adapters are built from).
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const src = join(root, 'src')

const PEERS: Record<string, RegExp> = {
  redis: /^ioredis$/,
  pg: /^(pg|pg-logical-replication)$/,
  pglite: /^@electric-sql\/pglite/,
  nats: /^@nats-io\//,
  prometheus: /^prom-client$/,
  msgpack: /^msgpackr$/,
  kysely: /^kysely$/,
  drizzle: /^drizzle-orm/,
  knex: /^knex$/,
  otel: /^@opentelemetry\/api$/,
  // The admin routes are fastify routes serving prom-client's text format.
  admin: /^(fastify|prom-client)$/,
}
const PEER_NAMES =
  /^(ioredis|pg|pg-logical-replication|@electric-sql\/pglite|@nats-io\/.*|@opentelemetry\/api|prom-client|msgpackr|fastify|kysely|drizzle-orm.*|knex)$/
const DEPENDENCIES = new Set(['zod', 'lru-cache', 'uuid'])

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return name.endsWith('.ts') ? [path] : []
  })
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/^(?:import|export)[^'"]*?from\s+'([^']+)'/gm)].map((m) => m[1]!)
}

const folderOf = (file: string) => {
  const parts = relative(src, file).split('/')
  return parts.length > 1 ? parts[0]! : ''
}

describe('package layout', () => {
  const files = sources(src)

  it('imports a backend client only inside that backend folder', () => {
    const wrong: string[] = []
    for (const file of files) {
      const folder = folderOf(file)
      for (const spec of imports(file)) {
        if (spec.startsWith('.') || spec.startsWith('node:')) continue
        if (PEER_NAMES.test(spec) && !PEERS[folder]?.test(spec))
          wrong.push(`${relative(root, file)} imports ${spec}`)
        else if (!PEER_NAMES.test(spec) && !DEPENDENCIES.has(spec) && !spec.startsWith('vitest'))
          wrong.push(`${relative(root, file)} imports ${spec}, which is not a dependency`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('crosses folders only through index.ts or kit.ts', () => {
    const wrong: string[] = []
    for (const file of files) {
      const folder = folderOf(file)
      for (const spec of imports(file)) {
        if (!spec.startsWith('.')) continue
        const target = resolve(dirname(file), spec)
        const other = folderOf(target)
        if (other === '' || other === folder) continue
        if (!/\/(index|kit)\.js$/.test(target)) wrong.push(`${relative(root, file)} imports ${spec}`)
      }
    }
    expect(wrong).toEqual([])
  })

  it('exports every folder with an index.ts as a subpath, and every subpath exists', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { source: string } | string>
    }
    const folders = readdirSync(src).filter((name) => {
      try {
        return statSync(join(src, name, 'index.ts')).isFile()
      } catch {
        return false
      }
    })
    for (const folder of folders) expect(pkg.exports[`./${folder}`], folder).toBeDefined()
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') continue
      expect(statSync(join(root, target.source)).isFile(), subpath).toBe(true)
    }
  })
})
