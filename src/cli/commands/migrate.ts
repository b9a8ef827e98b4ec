import { migrationScript, orderMigrations } from '../../db/index.js'
import { outboxMigrations } from '../../outbox/index.js'
import { sagaMigrations } from '../../saga/index.js'
import type { Command } from '../command.js'

/** Every concord module's migrations, in the order they apply. */
export const MIGRATIONS = orderMigrations([...outboxMigrations, ...sagaMigrations])

export const migrate: Command = {
  name: 'migrate',
  summary: "apply every module's migrations (outbox, inbox, saga log) on every shard",
  details:
    'Each shard migrates in one transaction under an advisory lock (a second migrate waits, then finds nothing to do).\n' +
    'With --print-sql, prints per shard the script migrate would run there now (only the pending migrations, with\n' +
    'the same bookkeeping), for review or for psql, and changes nothing.',
  flags: { 'print-sql': { type: 'boolean', description: 'print the SQL instead of applying it' } },
  async run({ flags, shards, out }) {
    const db = await shards()
    if (flags['print-sql']) {
      const scripts = await Promise.all(
        [...Array(db.count).keys()].map(async (shard) => ({
          shard,
          ...(await migrationScript((sql) => db.execute(shard, sql), MIGRATIONS)),
        })),
      )
      if (out.json) out.value(scripts)
      else for (const s of scripts) out.note(`-- shard ${s.shard}: ${s.pending.length} pending\n${s.sql}`)
      return 0
    }
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
