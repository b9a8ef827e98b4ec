import type { Shards } from '../../db/index.js'
import {
  createSagaAdmin,
  createSqlSagaLog,
  SAGA_STATUSES,
  type SagaRecord,
  type SagaStatus,
  sagaSqlFromShards,
} from '../../saga/index.js'
import { type Command, text } from '../command.js'
import { CliUsageError } from '../errors.js'

const admin = (shards: Shards) =>
  createSagaAdmin({ log: createSqlSagaLog({ db: sagaSqlFromShards(shards) }) })

const row = (s: SagaRecord) => ({
  id: s.id,
  name: s.name,
  key: s.idempotencyKey,
  status: s.status,
  step: s.steps[s.cursor]?.name ?? null,
  attention: s.attention ? `${s.attention.phase} ${s.attention.step}: ${s.attention.error.message}` : null,
  updatedAt: s.updatedAt,
})

export const sagasList: Command = {
  name: 'sagas list',
  summary: 'sagas, most recently updated first',
  flags: {
    status: { type: 'string', description: `only this status (${SAGA_STATUSES.join(', ')})` },
    name: { type: 'string', description: 'only sagas of this definition' },
    limit: { type: 'string', description: 'at most this many (default 100)' },
  },
  async run({ flags, shards, out }) {
    const status = text(flags, 'status')
    if (status !== undefined && !SAGA_STATUSES.includes(status as SagaStatus)) {
      throw new CliUsageError(
        `--status must be one of ${SAGA_STATUSES.join(', ')}, got ${JSON.stringify(status)}`,
      )
    }
    const limit = text(flags, 'limit') === undefined ? 100 : Number(text(flags, 'limit'))
    if (!Number.isInteger(limit) || limit < 1) throw new CliUsageError('--limit must be a positive integer')
    const name = text(flags, 'name')
    const sagas = await admin(await shards()).list({
      limit,
      ...(status !== undefined && { status: status as SagaStatus }),
      ...(name !== undefined && { name }),
    })
    if (out.json) {
      out.value(sagas)
      return 0
    }
    out.rows(sagas.map(row), ['id', 'name', 'key', 'status', 'step', 'attention', 'updatedAt'])
    return 0
  },
}

export const sagasShow: Command = {
  name: 'sagas show',
  usage: '<saga-id>',
  args: 1,
  summary: 'one saga: its state, steps and history',
  async run({ args, shards, out }) {
    const sagas = admin(await shards())
    const saga = await sagas.get(args[0]!)
    if (!saga) throw new CliUsageError(`no saga ${args[0]}`, { id: args[0] })
    const history = await sagas.history(saga.id)
    if (out.json) {
      out.value({ saga, history })
      return 0
    }
    out.value(row(saga))
    out.note('')
    out.rows(
      saga.steps.map((s) => ({ ...s })),
      ['name', 'status', 'attempts', 'compensations'],
    )
    out.note('')
    out.rows(
      history.map((h) => ({
        at: h.at,
        step: h.step,
        event: h.event,
        attempt: h.attempt,
        error: h.error?.message,
      })),
      ['at', 'step', 'event', 'attempt', 'error'],
    )
    return 0
  },
}

export const sagasRetry: Command = {
  name: 'sagas retry',
  usage: '<saga-id>',
  args: 1,
  summary:
    'hand a NEEDS_ATTENTION saga back to the engines: it resumes at the step (or compensation) that failed',
  details:
    'An engine that registered the saga drives it at its next recovery pass (engine option recoverEvery).',
  async run({ args, shards, out }) {
    const saga = await admin(await shards()).retry(args[0]!)
    out.value({ retried: saga.id, status: saga.status, step: saga.steps[saga.cursor]?.name ?? null })
    return 0
  },
}

export const sagasResolve: Command = {
  name: 'sagas resolve',
  usage: '<saga-id>',
  args: 1,
  summary: 'settle a NEEDS_ATTENTION saga by hand, noting what was done',
  flags: {
    as: { type: 'string', description: 'COMPLETED or COMPENSATED (required): what the saga now is' },
    note: { type: 'string', description: 'what was done by hand (required; kept in the history)' },
  },
  async run({ args, flags, shards, out }) {
    const as = text(flags, 'as')
    if (as !== 'COMPLETED' && as !== 'COMPENSATED') {
      throw new CliUsageError(
        '--as COMPLETED|COMPENSATED is required: what the saga is now that it was fixed by hand',
      )
    }
    const note = text(flags, 'note')
    if (!note) throw new CliUsageError('--note <text> is required: say what was done by hand')
    const outcome = await admin(await shards()).resolve(args[0]!, { status: as, note })
    out.value({ resolved: outcome.id, status: outcome.status })
    return 0
  },
}
