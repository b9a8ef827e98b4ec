import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createShards, type Migration } from 'concord/db'
import { InvalidInputError } from 'concord/errors'
import { afterAll, describe, expect, it } from 'vitest'
import { bootPglite, createPgliteNode } from '../../src/pglite/index.js'

// PGlite's start-up mechanism (src/db/pglite-boot.ts): modules compiled once, new databases from a cached,
// migrated template. What must hold: a database from a template has the migrations and nothing of any
// other database's writes; the template is keyed by the migration set; an existing data dir is resumed.

const cacheDir = mkdtempSync(join(tmpdir(), 'concord-pglite-boot-test-'))
const dataDirs = mkdtempSync(join(tmpdir(), 'concord-pglite-boot-data-'))
afterAll(() => {
  rmSync(cacheDir, { recursive: true, force: true })
  rmSync(dataDirs, { recursive: true, force: true })
})

const v1: Migration[] = [
  { module: 'boot_test', version: 1, name: 'items', sql: 'CREATE TABLE items (id int PRIMARY KEY)' },
]
const v2: Migration[] = [
  ...v1,
  { module: 'boot_test', version: 2, name: 'label', sql: 'ALTER TABLE items ADD COLUMN label text' },
]

describe('pglite boot', () => {
  // The first test builds the templates in an empty cache dir: initdb included, it can take a while on a
  // busy machine.
  it('starts new databases with the migrations applied, each its own copy', {
    timeout: 180_000,
  }, async () => {
    const shards = createShards({
      shards: [0, 1].map(() => ({ primary: createPgliteNode({ migrations: v1, cacheDir }) })),
      healthInterval: '1h',
    })
    try {
      // The template already holds them: migrate finds nothing left to apply on either shard.
      const reports = await shards.migrate(v1)
      expect(reports.map((r) => r.applied)).toEqual([[], []])
      await shards.onShard(0, (tx) => tx.query('INSERT INTO items (id) VALUES (1)'))
      const rows = await Promise.all(
        [0, 1].map((shard) =>
          shards.readShard(shard, (q) => q.query<{ id: number }>('SELECT id FROM items'), {
            primary: true,
          }),
        ),
      )
      expect(rows.map((r) => r.rows)).toEqual([[{ id: 1 }], []])
    } finally {
      await shards.close()
    }
  })

  it('keeps one template file per migration set, beside the plain initdb one', {
    timeout: 60_000,
  }, async () => {
    const node = createPgliteNode({ migrations: v2, cacheDir })
    try {
      const { rows } = await node.query<{ column_name: string }>(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY 1",
      )
      expect(rows.map((r) => r.column_name)).toEqual(['id', 'label'])
    } finally {
      await node.close()
    }
    const files = readdirSync(cacheDir).sort()
    // initdb's, v1's and v2's; no half-written build left behind.
    expect(files).toHaveLength(3)
    expect(files.filter((f) => f.endsWith('-initdb.tar'))).toHaveLength(1)
    expect(files.every((f) => /^\d+\.\d+\.\d+-[0-9a-f]{8}-(initdb|[0-9a-f]{16})\.tar$/.test(f))).toBe(true)
  })

  it('resumes a data dir that holds a database instead of loading the template over it', async () => {
    const dataDir = join(dataDirs, 'resume')
    const first = createPgliteNode({ dataDir, migrations: v1, cacheDir })
    await first.query('INSERT INTO items (id) VALUES (7)')
    await first.close()
    const again = createPgliteNode({ dataDir, migrations: v1, cacheDir })
    try {
      const { rows } = await again.query<{ id: number }>('SELECT id FROM items')
      expect(rows).toEqual([{ id: 7 }])
    } finally {
      await again.close()
    }
  })

  it('starts a PGlite of its own for callers that pass one in', async () => {
    const db = await bootPglite({ cacheDir })
    try {
      const { rows } = await db.query<{ n: number }>('SELECT 1 AS n')
      expect(rows).toEqual([{ n: 1 }])
    } finally {
      await db.close()
    }
  })

  it('refuses bad migrations when the node is made, before any template is built', () => {
    const bad = [{ module: 'boot_test', version: 0, name: 'zero', sql: 'SELECT 1' }]
    expect(() => createPgliteNode({ migrations: bad, cacheDir })).toThrow(InvalidInputError)
  })
})
