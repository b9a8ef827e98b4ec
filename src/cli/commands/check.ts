import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { type Comparator, createChecker } from '../../checker/index.js'
import type { Shards } from '../../db/index.js'
import { createOutboxAdmin } from '../../outbox/index.js'
import { createSagaAdmin, createSqlSagaLog, sagaSqlFromShards } from '../../saga/index.js'
import { type Command, text } from '../command.js'
import { CliConfigError } from '../errors.js'

/**
 * What `check --comparators <module>` imports: a module whose default export (or `comparators` export) makes
 * the application's comparators from the CLI's shards. The comparators are application code (what a product or
 * an order is, where its copies live), so a CLI cannot invent them; without a module, `check` runs the checks it
 * can make alone.
 */
export type ComparatorFactory = (context: { shards: Shards }) => Comparator[] | Promise<Comparator[]>

interface Finding {
  check: string
  subject: string
  finding: string
}

export const check: Command = {
  name: 'check',
  summary: 'run the consistency checks once and print the findings (exit 1 when there are any)',
  details:
    'Without --comparators: the checks concord can make alone: replica health, dead-lettered outbox events,\n' +
    'outbox events older than --max-age, sagas in NEEDS_ATTENTION.\n' +
    "With --comparators <module>: runs the checker once over the module's comparators (its default export,\n" +
    'a function ({ shards }) => Comparator[]) and prints the report.',
  flags: {
    comparators: {
      type: 'string',
      description: 'a JS module making the checker comparators from { shards }',
    },
    repair: { type: 'boolean', description: 'repair the divergences found (with --comparators)' },
    'max-age': {
      type: 'string',
      description: 'oldest outbox event age that is a finding, in seconds (default 60)',
    },
  },
  async run({ flags, shards, out }) {
    const db = await shards()
    const module = text(flags, 'comparators')
    if (module !== undefined) {
      const comparators = await loadComparators(module, db)
      const checker = createChecker({ comparators })
      const report = await checker.run({ repair: flags.repair === true })
      if (out.json) out.value(report)
      else {
        out.value({
          checked: report.checked,
          inconsistent: report.inconsistent,
          repaired: report.repaired,
          errors: report.errors,
        })
        out.note('')
        out.rows(
          report.divergences.map((d) => ({ ...d })),
          ['comparator', 'copy', 'key', 'kind', 'repaired'],
        )
      }
      return report.inconsistent > report.repaired || report.errors > 0 ? 1 : 0
    }
    const maxAgeMs = Number(text(flags, 'max-age') ?? 60) * 1000
    const findings: Finding[] = []
    out.progress('checking replicas, outbox and sagas')
    for (const r of await db.refreshHealth()) {
      if (!r.healthy)
        findings.push({ check: 'replica', subject: r.name, finding: r.lastError ?? 'unhealthy' })
    }
    for (const o of await createOutboxAdmin({ shards: db }).status()) {
      if (o.deadLetters > 0) {
        findings.push({
          check: 'outbox',
          subject: `shard ${o.shard}`,
          finding: `${o.deadLetters} dead letters`,
        })
      }
      if (o.oldestAgeMs > maxAgeMs) {
        findings.push({
          check: 'outbox',
          subject: `shard ${o.shard}`,
          finding: `oldest event ${o.oldestAgeMs} ms old`,
        })
      }
    }
    const sagas = createSagaAdmin({ log: createSqlSagaLog({ db: sagaSqlFromShards(db) }) })
    for (const s of await sagas.list({ status: 'NEEDS_ATTENTION' })) {
      findings.push({
        check: 'saga',
        subject: `${s.name} ${s.id}`,
        finding: s.attention?.error.message ?? 'needs attention',
      })
    }
    out.rows(findings, ['check', 'subject', 'finding'])
    return findings.length > 0 ? 1 : 0
  },
}

async function loadComparators(path: string, shards: Shards): Promise<Comparator[]> {
  const url = pathToFileURL(resolve(process.cwd(), path)).href
  let mod: { default?: unknown; comparators?: unknown }
  try {
    mod = (await import(url)) as typeof mod
  } catch (error) {
    throw new CliConfigError(`cannot load comparators module ${path}: ${(error as Error).message}`, { path })
  }
  const factory = (mod.default ?? mod.comparators) as ComparatorFactory | undefined
  if (typeof factory !== 'function') {
    throw new CliConfigError(`comparators module ${path} exports no function ({ shards }) => Comparator[]`, {
      path,
    })
  }
  return factory({ shards })
}
