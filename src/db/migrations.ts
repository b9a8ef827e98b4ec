import { createHash } from 'node:crypto'
import { InvalidInputError } from '../errors.js'
import { MigrationError } from './errors.js'
import type { Migration, NodeAdapter } from './types.js'

/** What one shard applied in one `migrate` call. */
export interface MigrationReport {
  shard: number
  /** `module@version` of each migration applied now, in order. */
  applied: string[]
}

/** The table `migrate` records applied migrations in (one row per module and version, with a checksum). */
const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS concord_migrations (
  module text NOT NULL,
  version integer NOT NULL,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (module, version)
)`

const checksumOf = (m: Migration) => createHash('sha256').update(m.sql).digest('hex')
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`

/**
 * The migrations as one SQL script, for a team's own migration tool (Prisma Migrate, Drizzle Kit, Knex, Flyway,
 * psql): each migration's SQL, then its row in `concord_migrations`, so a later `shards.migrate(...)` of the same
 * set finds it applied and does nothing. Run it once, in a transaction (most tools do). Print it with
 * `console.log(migrationScript(outboxMigrations))`.
 */
export function migrationScript(migrations: readonly Migration[]): string {
  const parts = [`${MIGRATIONS_TABLE_SQL};`]
  for (const m of orderMigrations(migrations)) {
    parts.push(
      `-- concord ${m.module}@${m.version}: ${m.name}\n${m.sql.trim()}`,
      `INSERT INTO concord_migrations (module, version, name, checksum) VALUES (${literal(m.module)}, ${m.version}, ${literal(m.name)}, ${literal(checksumOf(m))}) ON CONFLICT DO NOTHING;`,
    )
  }
  return `${parts.join('\n\n')}\n`
}

// 'concord_migrations' as a fixed advisory lock key: every process migrating a shard takes the same one.
const LOCK_KEY = '7237089413626978663'

/**
 * Puts migrations in the order they apply: modules in order of first appearance, each module's migrations
 * by ascending version. Rejects duplicates and malformed entries.
 */
export function orderMigrations(migrations: readonly Migration[]): Migration[] {
  const byModule = new Map<string, Migration[]>()
  const seen = new Set<string>()
  for (const m of migrations) {
    if (typeof m?.module !== 'string' || !/^[a-z][a-z0-9_.-]*$/i.test(m.module)) {
      throw new InvalidInputError(`a migration needs a module name, got ${JSON.stringify(m?.module)}`, {
        migration: m,
      })
    }
    if (!Number.isSafeInteger(m.version) || m.version < 1) {
      throw new InvalidInputError(
        `migration ${m.module} needs a positive integer version, got ${m.version}`,
        {
          module: m.module,
          version: m.version,
        },
      )
    }
    if (typeof m.sql !== 'string' || m.sql.trim() === '') {
      throw new InvalidInputError(`migration ${m.module}@${m.version} has no SQL`, { module: m.module })
    }
    const id = `${m.module}@${m.version}`
    if (seen.has(id)) throw new InvalidInputError(`migration ${id} is registered twice`, { migration: id })
    seen.add(id)
    const list = byModule.get(m.module) ?? []
    list.push(m)
    byModule.set(m.module, list)
  }
  return [...byModule.values()].flatMap((list) => list.sort((a, b) => a.version - b.version))
}

/**
 * Applies the pending migrations to one node in one transaction, under a transaction-scoped advisory lock:
 * a second process starting at the same time waits, then finds them applied. All or nothing: a failing
 * migration rolls back the others of this run. An applied migration whose SQL changed is an error,
 * because the shards would then differ from the code that describes them.
 */
export async function migrateNode(
  shard: number,
  node: NodeAdapter,
  ordered: readonly Migration[],
): Promise<MigrationReport> {
  return node.session(async (s) => {
    await s.query('BEGIN')
    await s.query('SELECT pg_advisory_xact_lock($1::bigint)', [LOCK_KEY])
    await s.query(MIGRATIONS_TABLE_SQL)
    const { rows } = await s.query<{ module: string; version: number; checksum: string }>(
      'SELECT module, version, checksum FROM concord_migrations',
    )
    const applied = new Map(rows.map((r) => [`${r.module}@${r.version}`, r.checksum]))
    const report: MigrationReport = { shard, applied: [] }
    for (const m of ordered) {
      const id = `${m.module}@${m.version}`
      const checksum = checksumOf(m)
      const known = applied.get(id)
      if (known !== undefined) {
        if (known !== checksum) {
          throw new MigrationError(
            `migration ${id} (${m.name}) changed after it was applied on shard ${shard}`,
            {
              shard,
              migration: id,
            },
          )
        }
        continue
      }
      try {
        await s.exec(m.sql)
      } catch (error) {
        throw new MigrationError(
          `migration ${id} (${m.name}) failed on shard ${shard}: ${(error as Error).message}`,
          { shard, migration: id },
          error,
        )
      }
      await s.query(
        'INSERT INTO concord_migrations (module, version, name, checksum) VALUES ($1, $2, $3, $4)',
        [m.module, m.version, m.name, checksum],
      )
      report.applied.push(id)
    }
    await s.query('COMMIT')
    return report
  })
}
