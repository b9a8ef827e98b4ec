import type { EventEnvelope } from '../broker/kit.js'
import type { ShardsCore } from '../db/kit.js'
import { DeadLetterNotFoundError } from './errors.js'

/** The outbox of one shard, as the status API shows it. */
export interface OutboxShardStatus {
  shard: number
  /** Events not yet published (in flight, waiting, or backing off), dead letters excluded. */
  pending: number
  /** Pending events that failed at least once and wait for their next attempt (each parks its aggregate). */
  retrying: number
  /** Dead-lettered events; each blocks its aggregate until redriven or discarded. */
  deadLetters: number
  /** Age of the oldest pending event (0 when none): how far the relay is behind. */
  oldestAgeMs: number
}

/** A dead-lettered outbox event with its last error. */
export interface OutboxDeadLetter {
  shard: number
  event: EventEnvelope
  topic: string
  attempts: number
  lastError: string | null
  deadAt: string
}

export async function outboxStatus(shards: ShardsCore, shardList: number[]): Promise<OutboxShardStatus[]> {
  return Promise.all(
    shardList.map(async (shard) => {
      const { rows } = await shards.execute(
        shard,
        `SELECT count(*) FILTER (WHERE status = 'pending')::int AS pending,
                count(*) FILTER (WHERE status = 'pending' AND attempts > 0)::int AS retrying,
                count(*) FILTER (WHERE status = 'dead')::int AS dead,
                COALESCE(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')) * 1000, 0)::float8 AS age
         FROM concord_outbox`,
      )
      const r = rows[0] ?? {}
      return {
        shard,
        pending: Number(r.pending ?? 0),
        retrying: Number(r.retrying ?? 0),
        deadLetters: Number(r.dead ?? 0),
        oldestAgeMs: Math.max(0, Math.round(Number(r.age ?? 0))),
      }
    }),
  )
}

export async function listDeadLetters(
  shards: ShardsCore,
  shardList: number[],
  limit: number,
): Promise<OutboxDeadLetter[]> {
  const perShard = await Promise.all(
    shardList.map(async (shard) => {
      const { rows } = await shards.execute(
        shard,
        `SELECT * FROM concord_outbox WHERE status = 'dead' ORDER BY dead_at, seq LIMIT $1`,
        [limit],
      )
      return rows.map((r) => ({
        shard,
        event: rowToEnvelope(r),
        topic: String(r.topic),
        attempts: Number(r.attempts),
        lastError: r.last_error === null ? null : String(r.last_error),
        deadAt: toIso(r.dead_at),
      }))
    }),
  )
  // Oldest first across shards, then cut: the limit must not favour the first shards.
  return perShard
    .flat()
    .sort((a, b) => a.deadAt.localeCompare(b.deadAt))
    .slice(0, limit)
}

/**
 * Makes a dead-lettered event pending again with fresh attempts, on whichever shard holds it.
 * @throws DeadLetterNotFoundError when no shard has it dead-lettered.
 */
export async function redriveDeadLetter(
  shards: ShardsCore,
  shardList: number[],
  id: string,
): Promise<number> {
  return onTheShardHolding(
    shards,
    shardList,
    id,
    `UPDATE concord_outbox
     SET status = 'pending', attempts = 0, locked_until = NULL, lease_owner = NULL, dead_at = NULL
     WHERE id = $1::uuid AND status = 'dead'`,
  )
}

/**
 * Deletes a dead-lettered event for good, which lets the later events of its aggregate flow.
 * @throws DeadLetterNotFoundError when no shard has it dead-lettered.
 */
export async function discardDeadLetter(
  shards: ShardsCore,
  shardList: number[],
  id: string,
): Promise<number> {
  return onTheShardHolding(
    shards,
    shardList,
    id,
    `DELETE FROM concord_outbox WHERE id = $1::uuid AND status = 'dead'`,
  )
}

async function onTheShardHolding(shards: ShardsCore, shardList: number[], id: string, sql: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new DeadLetterNotFoundError(id, 'outbox')
  for (const shard of shardList) {
    const { rowCount } = await shards.execute(shard, sql, [id])
    if ((rowCount ?? 0) > 0) return shard
  }
  throw new DeadLetterNotFoundError(id, 'outbox')
}

function rowToEnvelope(r: Record<string, unknown>): EventEnvelope {
  return {
    id: String(r.id),
    aggregateType: String(r.aggregate_type),
    aggregateId: String(r.aggregate_id),
    aggregateVersion: Number(r.aggregate_version),
    type: String(r.type),
    payload: r.payload,
    headers: (r.headers ?? {}) as Record<string, string>,
    createdAt: toIso(r.created_at),
  }
}

function toIso(value: unknown): string {
  return value instanceof Date ? value.toISOString() : String(value)
}
