import type pg from 'pg'
import { FeedSlotMissingError, FeedUnavailableError } from '../../outbox/kit.js'

/** The SQL side of a feed's lifecycle, on an ordinary (not replication) connection to the primary. */

type Q = Pick<pg.Pool, 'query'>

/** `"schema"."table"` of a `schema.table` name the options already checked to be plain identifiers. */
const quoted = (table: string) =>
  table
    .split('.')
    .map((part) => `"${part}"`)
    .join('.')

/** The server must decode its WAL: `wal_level = logical` (set in postgresql.conf; a restart). */
export async function checkWalLevel(q: Q): Promise<void> {
  const { rows } = await q.query<{ wal_level: string }>('SHOW wal_level')
  const level = rows[0]?.wal_level
  if (level !== 'logical') {
    throw new FeedUnavailableError(
      `the server runs with wal_level = ${level}; set wal_level = logical (and max_replication_slots, max_wal_senders) and restart it`,
      { walLevel: level },
    )
  }
}

/**
 * Creates the publication for the mapped tables, or adds the ones it lacks. Runs before the slot is created:
 * pgoutput reads the publication as of each change's position, so it must exist before the first one.
 */
export async function ensurePublication(q: Q, name: string, tables: readonly string[]): Promise<void> {
  const { rows } = await q.query<{ table: string }>(
    `SELECT schemaname || '.' || tablename AS table FROM pg_publication_tables WHERE pubname = $1`,
    [name],
  )
  const exists =
    rows.length > 0 ||
    (await q.query('SELECT 1 FROM pg_publication WHERE pubname = $1', [name])).rowCount! > 0
  if (!exists) {
    await q
      .query(`CREATE PUBLICATION "${name}" FOR TABLE ${tables.map(quoted).join(', ')}`)
      .catch((error) => {
        if ((error as { code?: string }).code !== '42710') throw error // another process created it meanwhile
      })
    return
  }
  const have = new Set(rows.map((r) => r.table))
  const missing = tables.filter((t) => !have.has(t))
  if (missing.length > 0)
    await q.query(`ALTER PUBLICATION "${name}" ADD TABLE ${missing.map(quoted).join(', ')}`)
}

/**
 * Makes sure the slot exists: created when `create` (the feed's first start), otherwise its absence is a
 * `FeedSlotMissingError` (a failover lost it, or it was dropped): recreating it silently would hide the gap.
 */
export async function ensureSlot(q: Q, slot: string, create: boolean): Promise<'created' | 'exists'> {
  const { rowCount } = await q.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot])
  if (rowCount! > 0) return 'exists'
  if (!create) throw new FeedSlotMissingError(slot)
  try {
    await q.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot])
    return 'created'
  } catch (error) {
    if ((error as { code?: string }).code === '42710') return 'exists' // another process created it meanwhile
    throw error
  }
}

export interface SlotRow {
  active: boolean
  activePid: number | undefined
  confirmedLsn: string | undefined
  currentLsn: string
  lagBytes: number
}

/** The slot as the server sees it; `undefined` when it does not exist. */
export async function readSlot(q: Q, slot: string): Promise<SlotRow | undefined> {
  const { rows } = await q.query<{
    active: boolean
    active_pid: number | null
    confirmed: string | null
    current: string
    lag: string | null
  }>(
    `SELECT active, active_pid, confirmed_flush_lsn::text AS confirmed, pg_current_wal_lsn()::text AS current,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  )
  const row = rows[0]
  if (!row) return undefined
  return {
    active: row.active,
    activePid: row.active_pid ?? undefined,
    confirmedLsn: row.confirmed ?? undefined,
    currentLsn: row.current,
    lagBytes: Math.max(0, Number(row.lag ?? 0)),
  }
}

/** Drops the slot (its retained WAL is freed) and, if given, the publication. */
export async function dropSlot(q: Q, slot: string, publication: string | undefined): Promise<void> {
  // The walsender of a stream just ended may still hold the slot for a moment: 55006 object_in_use.
  for (let attempt = 1; ; attempt++) {
    try {
      await q.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      )
      break
    } catch (error) {
      if ((error as { code?: string }).code !== '55006' || attempt >= 50) throw error
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  if (publication !== undefined) await q.query(`DROP PUBLICATION IF EXISTS "${publication}"`)
}
