import { z } from 'zod'
import type { EventEnvelope } from '../broker/kit.js'
import type { ShardsCore } from '../db/kit.js'
import { InvalidInputError } from '../errors.js'
import { parseOptions } from '../options.js'
import { DeadLetterNotFoundError } from './errors.js'
import { OUTBOX_CHANNEL } from './writer.js'

const schema = z.object({
  /** The shards whose outboxes to read (concord/db `createShards`). */
  shards: z.custom<OutboxAdminShards>(
    (v) =>
      typeof (v as OutboxAdminShards)?.execute === 'function' &&
      Number.isInteger((v as OutboxAdminShards)?.count),
    'a Shards from concord/db',
  ),
  /** Which shard indexes to read. @default every shard */
  shardIndexes: z.array(z.number().int().nonnegative()).optional(),
})

/** What the admin handle needs of concord/db's `Shards`: one statement on a shard. */
export type OutboxAdminShards = Pick<ShardsCore, 'count' | 'execute'>

/** Options of {@link createOutboxAdmin}. */
export interface OutboxAdminOptions {
  /** The shards whose outboxes to read (concord/db `createShards`). */
  shards: OutboxAdminShards
  /** Which shard indexes to read. @default every shard */
  shardIndexes?: number[]
}

/**
 * The outbox as an operator sees it: status and dead letters, and the two things done about a dead letter.
 * It needs no relay: each call is one statement per shard, and a redrive or discard notifies the relays that
 * listen (a relay that polls finds the row within its poll interval).
 */
export interface OutboxAdmin {
  /** Pending, retrying and dead-lettered counts and the oldest pending age, per shard. */
  status(): Promise<OutboxShardStatus[]>
  /** Dead-lettered events with their last error, oldest first. @default limit 100 */
  deadLetters(limit?: number): Promise<OutboxDeadLetter[]>
  /**
   * Makes a dead-lettered event pending with fresh attempts; it is published next, before the later events
   * of its aggregate. Resolves to the shard that held it. @throws DeadLetterNotFoundError
   */
  redrive(id: string): Promise<number>
  /**
   * Drops a dead-lettered event for good, releasing the later events of its aggregate. Resolves to the shard
   * that held it. @throws DeadLetterNotFoundError
   */
  discard(id: string): Promise<number>
}

/**
 * A read-only view of the outbox (plus redrive and discard), for a status page or an operator's script that
 * runs no relay. A relay's own `status()`, `deadLetters()`, `redrive()` and `discard()` are this handle's.
 *
 * @example
 * const outbox = createOutboxAdmin({ shards })
 * const [oldest] = await outbox.deadLetters(1)
 * if (oldest) await outbox.redrive(oldest.event.id)
 */
export function createOutboxAdmin(options: OutboxAdminOptions): OutboxAdmin {
  const o = parseOptions('createOutboxAdmin', schema, options)
  const shards = o.shards
  const shardList = o.shardIndexes ?? [...Array(shards.count).keys()]
  for (const shard of shardList) {
    if (shard >= shards.count) {
      throw new InvalidInputError(`createOutboxAdmin: no shard ${shard}, there are ${shards.count}`, {
        shard,
      })
    }
  }
  return {
    status: () => outboxStatus(shards, shardList),
    deadLetters: (limit = 100) => listDeadLetters(shards, shardList, limit),
    redrive: (id) => redriveDeadLetter(shards, shardList, id),
    discard: (id) => discardDeadLetter(shards, shardList, id),
  }
}

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

async function outboxStatus(shards: OutboxAdminShards, shardList: number[]): Promise<OutboxShardStatus[]> {
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

async function listDeadLetters(
  shards: OutboxAdminShards,
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

/** Makes a dead-lettered event pending again with fresh attempts, on whichever shard holds it. */
async function redriveDeadLetter(
  shards: OutboxAdminShards,
  shardList: number[],
  id: string,
): Promise<number> {
  return onTheShardHolding(
    shards,
    shardList,
    id,
    `UPDATE concord_outbox
     SET status = 'pending', attempts = 0, locked_until = NULL, lease_owner = NULL, dead_at = NULL
     WHERE id = $1::uuid AND status = 'dead' RETURNING id`,
  )
}

/** Deletes a dead-lettered event for good, which lets the later events of its aggregate flow. */
async function discardDeadLetter(
  shards: OutboxAdminShards,
  shardList: number[],
  id: string,
): Promise<number> {
  return onTheShardHolding(
    shards,
    shardList,
    id,
    `DELETE FROM concord_outbox WHERE id = $1::uuid AND status = 'dead' RETURNING id`,
  )
}

/**
 * Runs `change` (returning the rows it changed) on each shard until one holds the event. The same statement
 * notifies the relays listening on that shard, so a relay in another process publishes it without waiting
 * for its poll.
 */
async function onTheShardHolding(shards: OutboxAdminShards, shardList: number[], id: string, change: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new DeadLetterNotFoundError(id, 'outbox')
  const sql = `WITH changed AS (${change}) SELECT pg_notify('${OUTBOX_CHANNEL}', '') FROM changed`
  for (const shard of shardList) {
    const { rows } = await shards.execute(shard, sql, [id])
    if (rows.length > 0) return shard
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
