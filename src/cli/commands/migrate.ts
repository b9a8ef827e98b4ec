import { migrationScript } from '../../db/index.js'
import { outboxMigrations } from '../../outbox/index.js'
import { sagaMigrations } from '../../saga/index.js'
import type { Command } from '../command.js'

/** Every concord module's migrations (`shards.migrate` and `migrationScript` put them in order). */
export const MIGRATIONS = [...outboxMigrations, ...sagaMigrations]

export const migrate: Command = {
  name: 'migrate',
  summary: "apply every module's migrations (outbox, inbox, saga log) on every shard",
  details:
    'Each shard migrates in one transaction under an advisory lock (a second migrate waits, then finds nothing to do).\n' +
    "With --print-sql, prints the script for every shard instead (concord/db's migrationScript: each migration and\n" +
    'its concord_migrations row, so a later migrate finds them applied), for review or for psql; needs no database.',
  flags: { 'print-sql': { type: 'boolean', description: 'print the SQL instead of applying it' } },
  async run({ flags, shards, out }) {
    if (flags['print-sql']) {
      const sql = migrationScript(MIGRATIONS)
      if (out.json) {
        out.value({ migrations: MIGRATIONS.map((m) => `${m.module}@${m.version}`), sql })
      } else out.note(sql)
      return 0
    }
    const db = await shards()
    out.progress(
      `migrating ${db.count} shard(s): ${MIGRATIONS.map((m) => `${m.module}@${m.version}`).join(', ')}`,
    )
    const reports = await db.migrate(MIGRATIONS)
    out.rows(
      reports.map((r) => ({
        shard: r.shard,
        applied: r.applied.length > 0 ? r.applied.join(' ') : '(up to date)',
      })),
      ['shard', 'applied'],
    )
    return 0
  },
}
