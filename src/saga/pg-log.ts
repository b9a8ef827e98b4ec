import { z } from 'zod'
import { parseOptions } from '../options.js'
import { fnv1a, type SagaSql } from './sql.js'
import {
  SAGA_STATUSES,
  type SagaLog,
  type SagaLogEntry,
  type SagaRecord,
  type SagaStatus,
  SETTLED,
} from './types.js'

export const schema = z
  .object({
    /** The shards: `sagaSqlFromShards(shards)` or `sagaSqlFromClients([...])`. */
    db: z.custom<SagaSql>(
      (v) => typeof (v as SagaSql)?.execute === 'function' && typeof (v as SagaSql)?.shardFor === 'function',
      'a SagaSql',
    ),
    /**
     * Pin every saga's log to this shard. By default a saga's log lives on the shard the db's slot map
     * places its id on, which spreads the log's writes over all primaries. @default undefined
     */
    coordinator: z.number().int().nonnegative().optional(),
  })
  .strict()

/** Options of `createSqlSagaLog`. */
export interface SqlSagaLogOptions {
  /** The shards: `sagaSqlFromShards(shards)` or `sagaSqlFromClients([...])`. */
  db: SagaSql
  /**
   * Pin every saga's log to this shard. By default a saga's log lives on the shard the db's slot map
   * places its id on, which spreads the log's writes over all primaries. @default undefined
   */
  coordinator?: number
}

const COLUMNS =
  'id, name, idempotency_key, input, status, step_cursor, steps, error, attention, created_at, updated_at'
const ENTRIES = 'jsonb_to_recordset($E::jsonb) AS e(step text, event text, attempt int, error jsonb)'
const LEASE_END = "now() + ($L::int * interval '1 millisecond')"

/**
 * The durable saga log in PostgreSQL (or PGlite): one row per saga in `concord_saga`, its history in
 * `concord_saga_log`. Every write is one statement (a data-modifying CTE updates the row and appends
 * the history together), conditioned on the lease owner. Apply `sagaMigrations` to every shard first.
 *
 * Placement: a saga's id is derived from (name, idempotency key), and its rows (the saga with its lease,
 * and its history) live on the shard the db's slot map places that id on (or on `coordinator`), like any
 * other key: resharding moves them with their slot (README.md, "Resharding"). Any process finds a saga
 * from its id alone; the log's writes, four per three-step saga, spread over all primaries instead of
 * loading one; a shard that is down stalls only its own share of sagas. `recover()`, lists and counts ask
 * every shard.
 */
export function createSqlSagaLog(options: SqlSagaLogOptions): SagaLog {
  const o = parseOptions('createSqlSagaLog', schema, options)
  const db = o.db
  const shardOf = (id: string) => o.coordinator ?? db.shardFor(id)
  const all = <T>(fn: (shard: number) => Promise<T>) =>
    Promise.all(Array.from({ length: db.count }, (_, i) => fn(i)))
  // Each statement's text with `$1` parameters and its prepared name, worked out once per text: this runs for
  // every write of every saga.
  const compiled = new Map<string, { text: string; name: string; order: string[] }>()
  const run = async (shard: number, sql: string, params: Record<string, unknown>) => {
    let statement = compiled.get(sql)
    if (statement === undefined) {
      const order = Object.keys(params)
      const text = sql.replace(/\$([A-Z])\b/g, (_, name: string) => {
        const index = order.indexOf(name)
        if (index < 0) throw new Error(`saga log: no parameter $${name}`)
        return `$${index + 1}`
      })
      // Named by the text (hash and length), so a name stands for one text; the parameter order follows `params`.
      statement = { text, name: `concord_saga_${fnv1a(text).toString(36)}_${text.length}`, order }
      compiled.set(sql, statement)
    }
    const values = statement.order.map((name) => {
      if (!(name in params)) throw new Error(`saga log: no parameter $${name}`)
      return params[name]
    })
    return (
      await db.execute<Record<string, unknown>>(shard, { name: statement.name, text: statement.text, values })
    ).rows
  }
  const entries = (list: SagaLogEntry[]) =>
    JSON.stringify(
      list.map((e) => ({ step: e.step, event: e.event, attempt: e.attempt, error: e.error ?? null })),
    )
  const appendLog = (from: string) =>
    `INSERT INTO concord_saga_log (saga_id, step, event, attempt, error)
     SELECT ${from}.id, e.step, e.event, e.attempt, e.error FROM ${from}, ${ENTRIES}`

  return {
    async start(saga, lease, list) {
      const shard = shardOf(saga.id)
      const rows = await run(
        shard,
        `WITH ins AS (
           INSERT INTO concord_saga (id, name, idempotency_key, input, status, step_cursor, steps, lease_owner, lease_expires_at)
           VALUES ($I::uuid, $N, $K, $P::jsonb, $S, $C::int, $T::jsonb, $O, ${LEASE_END})
           ON CONFLICT (name, idempotency_key) DO NOTHING
           RETURNING id, created_at, updated_at
         ), log AS (${appendLog('ins')})
         SELECT created_at, updated_at FROM ins`,
        {
          I: saga.id,
          N: saga.name,
          K: saga.idempotencyKey,
          P: JSON.stringify(saga.input),
          S: saga.status,
          C: saga.cursor,
          T: JSON.stringify(saga.steps),
          O: lease.owner,
          L: lease.ms,
          E: entries(list),
        },
      )
      // Created: the row is what was sent (the input and steps as JSON), but for the server's timestamps.
      if (rows[0]) {
        const record: SagaRecord = {
          ...saga,
          createdAt: new Date(rows[0].created_at as string),
          updatedAt: new Date(rows[0].updated_at as string),
        }
        return { saga: record, created: true }
      }
      // The id is derived from (name, key), so the saga with this key has this id, on this shard.
      const existing = await run(shard, `SELECT ${COLUMNS} FROM concord_saga WHERE id = $I::uuid`, {
        I: saga.id,
      })
      return { saga: toRecord(existing[0]!), created: false }
    },

    async save(saga, lease, list) {
      const settled = SETTLED.has(saga.status)
      const rows = await run(
        shardOf(saga.id),
        `WITH upd AS (
           UPDATE concord_saga SET status = $S, step_cursor = $C::int, steps = $T::jsonb, error = $R::jsonb,
             attention = $A::jsonb, updated_at = now(),
             lease_owner = CASE WHEN $F::boolean THEN NULL ELSE lease_owner END,
             lease_expires_at = CASE WHEN $F::boolean THEN NULL ELSE ${LEASE_END} END
           WHERE id = $I::uuid AND lease_owner = $O
           RETURNING id
         ), log AS (${appendLog('upd')})
         SELECT count(*)::int AS n FROM upd`,
        {
          I: saga.id,
          O: lease.owner,
          S: saga.status,
          C: saga.cursor,
          T: JSON.stringify(saga.steps),
          R: saga.error === null ? null : JSON.stringify(saga.error),
          A: saga.attention === null ? null : JSON.stringify(saga.attention),
          F: settled,
          L: lease.ms,
          E: entries(list),
        },
      )
      return Number(rows[0]?.n) === 1
    },

    async claim(names, lease, limit, skip) {
      const claimed: SagaRecord[] = []
      // One shard after another, so a small limit is not taken many times over.
      for (let shard = 0; shard < db.count && claimed.length < limit; shard++) {
        if (o.coordinator !== undefined && shard !== o.coordinator) continue
        const rows = await run(
          shard,
          `WITH c AS (
             SELECT id FROM concord_saga
             WHERE status IN ('RUNNING', 'COMPENSATING') AND name = ANY($N::text[])
               AND (lease_owner IS NULL OR lease_expires_at < now()
                    OR (lease_owner = $O AND NOT (id = ANY($X::uuid[]))))
             ORDER BY lease_expires_at NULLS FIRST
             LIMIT $M::int
             FOR UPDATE SKIP LOCKED
           ), upd AS (
             UPDATE concord_saga s SET lease_owner = $O, lease_expires_at = ${LEASE_END}, updated_at = now()
             FROM c WHERE s.id = c.id
             RETURNING s.id, s.name, s.idempotency_key, s.input, s.status, s.step_cursor, s.steps, s.error,
               s.attention, s.created_at, s.updated_at
           ), log AS (
             INSERT INTO concord_saga_log (saga_id, step, event, attempt) SELECT upd.id, NULL, 'saga:claimed', 0 FROM upd
           )
           SELECT * FROM upd`,
          { N: [...names], O: lease.owner, X: [...skip], M: limit - claimed.length, L: lease.ms },
        )
        claimed.push(...rows.map(toRecord))
      }
      return claimed
    },

    async claimOne(id, lease, statuses) {
      const rows = await run(
        shardOf(id),
        `UPDATE concord_saga SET lease_owner = $O, lease_expires_at = ${LEASE_END}
         WHERE id = $I::uuid AND status = ANY($S::text[])
           AND (lease_owner IS NULL OR lease_expires_at < now() OR lease_owner = $O)
         RETURNING ${COLUMNS}`,
        { I: id, O: lease.owner, S: [...statuses], L: lease.ms },
      )
      return rows[0] && toRecord(rows[0])
    },

    async renew(ids, lease) {
      const byShard = groupByShard(ids, shardOf)
      const kept = await Promise.all(
        [...byShard].map(([shard, group]) =>
          run(
            shard,
            `UPDATE concord_saga SET lease_expires_at = ${LEASE_END}
             WHERE id = ANY($I::uuid[]) AND lease_owner = $O RETURNING id`,
            { I: group, O: lease.owner, L: lease.ms },
          ),
        ),
      )
      return kept.flat().map((r) => String(r.id))
    },

    async release(ids, owner) {
      await Promise.all(
        [...groupByShard(ids, shardOf)].map(([shard, group]) =>
          run(
            shard,
            `UPDATE concord_saga SET lease_owner = NULL, lease_expires_at = NULL
             WHERE id = ANY($I::uuid[]) AND lease_owner = $O`,
            { I: group, O: owner },
          ),
        ),
      )
    },

    async resolve(id, status, resolution) {
      const rows = await run(
        shardOf(id),
        `WITH upd AS (
           UPDATE concord_saga SET status = $S, updated_at = now(), lease_owner = NULL, lease_expires_at = NULL,
             attention = attention || jsonb_build_object('resolution', $R::text)
           WHERE id = $I::uuid AND status = 'NEEDS_ATTENTION'
           RETURNING ${COLUMNS}
         ), log AS (
           INSERT INTO concord_saga_log (saga_id, step, event, attempt) SELECT upd.id, NULL, $V, 0 FROM upd
         )
         SELECT * FROM upd`,
        { I: id, S: status, R: resolution, V: `saga:resolved:${status.toLowerCase()}` },
      )
      return rows[0] && toRecord(rows[0])
    },

    async get(id) {
      const rows = await run(shardOf(id), `SELECT ${COLUMNS} FROM concord_saga WHERE id = $I::uuid`, {
        I: id,
      })
      return rows[0] && toRecord(rows[0])
    },

    async find(name, key) {
      const rows = await all((shard) =>
        run(shard, `SELECT ${COLUMNS} FROM concord_saga WHERE name = $N AND idempotency_key = $K`, {
          N: name,
          K: key,
        }),
      )
      const row = rows.flat()[0]
      return row && toRecord(row)
    },

    async list({ status, name, limit = 100 } = {}) {
      const rows = await all((shard) =>
        run(
          shard,
          `SELECT ${COLUMNS} FROM concord_saga
           WHERE ($S::text IS NULL OR status = $S) AND ($N::text IS NULL OR name = $N)
           ORDER BY updated_at DESC LIMIT $M::int`,
          { S: status ?? null, N: name ?? null, M: limit },
        ),
      )
      return rows
        .flat()
        .map(toRecord)
        .sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime())
        .slice(0, limit)
    },

    async counts() {
      const counts = Object.fromEntries(SAGA_STATUSES.map((s) => [s, 0])) as Record<SagaStatus, number>
      const rows = await all((shard) =>
        run(shard, 'SELECT status, count(*)::int AS n FROM concord_saga GROUP BY status', {}),
      )
      for (const row of rows.flat()) counts[row.status as SagaStatus] += Number(row.n)
      return counts
    },

    async history(id) {
      const rows = await run(
        shardOf(id),
        'SELECT step, event, attempt, error, at FROM concord_saga_log WHERE saga_id = $I::uuid ORDER BY seq',
        { I: id },
      )
      return rows.map((r) => ({
        step: (r.step as string | null) ?? null,
        event: String(r.event),
        attempt: Number(r.attempt),
        ...(r.error ? { error: json(r.error) as SagaLogEntry['error'] } : {}),
        at: new Date(r.at as string),
      }))
    },
  }
}

function groupByShard(ids: readonly string[], shardOf: (id: string) => number): Map<number, string[]> {
  const groups = new Map<number, string[]>()
  for (const id of ids) {
    const shard = shardOf(id)
    groups.set(shard, [...(groups.get(shard) ?? []), id])
  }
  return groups
}

/** jsonb comes back parsed from pg and PGlite (a JSON string value stays a string). */
function json(value: unknown): unknown {
  return value
}

function toRecord(row: Record<string, unknown>): SagaRecord {
  return {
    id: String(row.id),
    name: String(row.name),
    idempotencyKey: String(row.idempotency_key),
    input: json(row.input),
    status: row.status as SagaStatus,
    cursor: Number(row.step_cursor),
    steps: json(row.steps) as SagaRecord['steps'],
    error: (json(row.error) ?? null) as SagaRecord['error'],
    attention: (json(row.attention) ?? null) as SagaRecord['attention'],
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
  }
}
