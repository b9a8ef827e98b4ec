import type { Queryable } from '../db/kit.js'

/**
 * The relay's SQL. Claiming is by aggregate, with row leases taken under FOR UPDATE SKIP LOCKED:
 *
 * - A *head* is the lowest-seq row of its aggregate still in the table (published rows are deleted, so
 *   "lowest remaining" is "next to publish"). Only heads are candidates, locked with SKIP LOCKED, so two relays
 *   never take the same aggregate: the one that loses the row lock skips it, and a leased head (locked_until
 *   in the future) is not a candidate. A head in backoff or dead-lettered therefore parks its aggregate alone.
 * - With each head come the next rows of its aggregate (a *run*), read in the same statement. Only the head is
 *   leased: the others cannot be taken by anyone, as they are not heads until the rows before them are deleted.
 * - A run is published in order and then deleted in one statement; the rest is released.
 * - Commit order: a row is only taken when its transaction id is below the snapshot's xmin, i.e. every
 *   transaction that could still commit a lower-numbered row of the same aggregate has finished. Nothing is ever
 *   skipped either way: there is no cursor, only "what is still in the table".
 */

/** A row as claimed. `seq` is a string (bigint). */
export interface ClaimedRow {
  seq: string
  id: string
  topic: string
  aggregateType: string
  aggregateId: string
  aggregateVersion: number
  type: string
  payload: unknown
  headers: unknown
  createdAt: string
  attempts: number
  /** Written by a transaction below the snapshot's xmin: no lower-numbered row can still appear. */
  settled: boolean
  /** A WAL position at or past this row's commit (the same for every row of a claim). */
  lsn: string
}

export interface ClaimOptions {
  /** Aggregates (heads) per claim. */
  aggregates: number
  /** Rows per aggregate, the head included. */
  perAggregate: number
  /** Rows per claim in all. */
  maxRows: number
  leaseMs: number
  /** A token unique to this claim; settle and release only touch rows still leased to it. */
  owner: string
  /** Take only rows whose transaction is below the snapshot's xmin. */
  commitOrderGuard: boolean
}

const CLAIM_SQL = `
WITH snap AS MATERIALIZED (
  -- The insert position, read after this statement's snapshot: at or past the commit record of every row
  -- the claim can see, so a consumer that reads a replica at this LSN sees each claimed row's change.
  SELECT CASE WHEN $6::boolean THEN pg_snapshot_xmin(pg_current_snapshot()) END AS xmin,
    pg_current_wal_insert_lsn()::text AS lsn
), held AS MATERIALIZED (
  -- Is the newest pending row held back only by the guard (an older transaction still runs)?
  SELECT coalesce((SELECT p.txid >= snap.xmin FROM concord_outbox p
    WHERE p.status = 'pending' ORDER BY p.seq DESC LIMIT 1), false) AS blocked FROM snap
), heads AS (
  SELECT o.seq, o.aggregate_type, o.aggregate_id
  FROM concord_outbox o, snap
  WHERE o.status = 'pending'
    AND (o.locked_until IS NULL OR o.locked_until <= now())
    AND (snap.xmin IS NULL OR o.txid < snap.xmin)
    AND NOT EXISTS (
      SELECT 1 FROM concord_outbox e
      WHERE e.aggregate_type = o.aggregate_type AND e.aggregate_id = o.aggregate_id AND e.seq < o.seq)
  ORDER BY o.seq
  LIMIT $1
  FOR UPDATE OF o SKIP LOCKED
), followers AS MATERIALIZED (
  -- Read no more than the claim can keep: with many heads, each run is shortened to its share of $3.
  SELECT LEAST($2, GREATEST(1, ceil($3::double precision / GREATEST(count(*), 1))::int) - 1) AS n FROM heads
), runs AS (
  SELECT h.seq, true AS head FROM heads h
  UNION ALL
  SELECT f.seq, false FROM heads h, followers n CROSS JOIN LATERAL (
    SELECT e.seq FROM concord_outbox e
    WHERE e.aggregate_type = h.aggregate_type AND e.aggregate_id = h.aggregate_id AND e.seq > h.seq
    ORDER BY e.seq LIMIT n.n) f
), capped AS MATERIALIZED (
  -- Cutting by seq keeps every run a prefix of its aggregate's queue.
  SELECT seq, head FROM runs ORDER BY seq LIMIT $3
), leased AS (
  -- Only heads are leased: the rest of a run cannot be taken by anyone before its head is gone.
  UPDATE concord_outbox u
  SET locked_until = now() + $4::double precision * interval '1 millisecond', lease_owner = $5
  WHERE u.seq = ANY (ARRAY(SELECT seq FROM capped WHERE head))
)
SELECT o.seq::text AS seq, o.id::text AS id, o.topic, o.aggregate_type, o.aggregate_id,
  o.aggregate_version::text AS aggregate_version, o.type, o.payload, o.headers, o.created_at, o.attempts,
  o.status = 'pending' AND (snap.xmin IS NULL OR o.txid < snap.xmin) AS settled, snap.lsn, held.blocked
-- The outer join answers one row (seq null) when nothing was claimed, to carry \`blocked\`.
FROM snap CROSS JOIN held LEFT JOIN concord_outbox o ON o.seq = ANY (ARRAY(SELECT seq FROM capped))`

/**
 * Leases the next runs of up to `aggregates` aggregates; rows come back in seq order. One statement, meant to
 * run on its own (autocommit): the lease is its only effect, and it holds no lock after it returns.
 *
 * `blocked`: the newest pending row is held back only by the commit-order guard (a transaction older than its
 * writer is still running). It becomes claimable when that transaction ends, which may send no NOTIFY (it need
 * not write to the outbox), so the relay looks again soon instead of at its next poll. One backward step on the
 * pending index; a heuristic (it looks at the newest row only), polling covers the rest.
 */
export async function claimRows(
  q: Queryable,
  o: ClaimOptions,
): Promise<{ rows: ClaimedRow[]; blocked: boolean }> {
  // Named (prepared): parsing and planning this statement cost the server more than running it on a short queue.
  const { rows } = await q.query<Record<string, unknown>>({
    name: 'concord_outbox_claim',
    text: CLAIM_SQL,
    values: [
      o.aggregates,
      Math.max(0, o.perAggregate - 1),
      o.maxRows,
      o.leaseMs,
      o.owner,
      o.commitOrderGuard,
    ],
  })
  const claimed = rows
    .filter((r) => r.seq !== null)
    .map((r) => ({
      seq: String(r.seq),
      id: String(r.id),
      topic: String(r.topic),
      aggregateType: String(r.aggregate_type),
      aggregateId: String(r.aggregate_id),
      aggregateVersion: Number(r.aggregate_version),
      type: String(r.type),
      payload: r.payload,
      headers: r.headers,
      createdAt: r.created_at instanceof Date ? r.created_at.toISOString() : String(r.created_at),
      attempts: Number(r.attempts),
      settled: r.settled === true,
      lsn: String(r.lsn),
    }))
    .sort((a, b) => compareSeq(a.seq, b.seq))
  return { rows: claimed, blocked: rows[0]?.blocked === true }
}

/** A failed attempt: `permanent` (or the last allowed attempt) dead-letters the row, else it backs off. */
export interface FailedRow {
  seq: string
  error: string
  delayMs: number
  permanent: boolean
}

export interface Settlement {
  owner: string
  /** Acknowledged by the broker: deleted. */
  published: string[]
  failed: FailedRow[]
  /** Not attempted (cut from a run, or the broker was down): lease ends after `releaseDelayMs`. */
  released: string[]
  releaseDelayMs: number
  maxAttempts: number
}

const SETTLE_SQL = `
WITH published AS (
  DELETE FROM concord_outbox WHERE seq = ANY($1::bigint[])
), failed AS (
  UPDATE concord_outbox u SET
    attempts = u.attempts + 1,
    last_error = f.error,
    status = CASE WHEN f.permanent OR u.attempts + 1 >= $7 THEN 'dead' ELSE 'pending' END,
    dead_at = CASE WHEN f.permanent OR u.attempts + 1 >= $7 THEN now() END,
    locked_until = CASE WHEN f.permanent OR u.attempts + 1 >= $7 THEN NULL
                   ELSE now() + f.delay_ms * interval '1 millisecond' END,
    lease_owner = NULL
  FROM unnest($2::bigint[], $3::text[], $4::double precision[], $5::boolean[]) AS f(seq, error, delay_ms, permanent)
  WHERE u.seq = f.seq AND (u.lease_owner IS NULL OR u.lease_owner = $6)
  RETURNING u.status
), released AS (
  UPDATE concord_outbox SET
    locked_until = CASE WHEN $9::double precision > 0 THEN now() + $9::double precision * interval '1 millisecond' END,
    lease_owner = NULL
  WHERE seq = ANY($8::bigint[]) AND lease_owner = $6
)
-- The rows this settle dead-lettered (data-modifying CTEs run whether or not they are read).
SELECT count(*) FILTER (WHERE status = 'dead')::int AS dead FROM failed`

/**
 * Ends a claim in one statement: deletes what was published, records failures (backoff or dead letter), and
 * releases the heads not attempted. A head is only updated while still leased to `owner`, so a relay whose lease
 * ran out cannot release a head the relay that took over holds; a published row is deleted whoever holds it.
 * Returns how many failed rows are now dead-lettered.
 */
export async function settleClaim(q: Queryable, s: Settlement): Promise<{ deadLettered: number }> {
  const { rows } = await q.query<{ dead: number }>({
    name: 'concord_outbox_settle',
    text: SETTLE_SQL,
    values: [
      s.published,
      s.failed.map((f) => f.seq),
      s.failed.map((f) => f.error.slice(0, 4000)),
      s.failed.map((f) => f.delayMs),
      s.failed.map((f) => f.permanent),
      s.owner,
      s.maxAttempts,
      s.released,
      s.releaseDelayMs,
    ],
  })
  return { deadLettered: Number(rows[0]?.dead ?? 0) }
}

/** Orders two bigint seqs given as decimal strings. */
export function compareSeq(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
}
