import { z } from 'zod'
import { type BackoffPolicy, backoffSchema } from '../backoff.js'
import type { EventEnvelope } from '../broker/kit.js'
import type { ShardsCore } from '../db/kit.js'
import { type Duration, duration } from '../options.js'
import type { OutboxBroker } from './ports.js'

const fn = <T>(what: string) => z.custom<T>((v) => typeof v === 'function', what)

export const relaySchema = z.object({
  /** The shards whose outboxes this relay drains (concord/db `createShards`). */
  shards: z.custom<ShardsCore>(
    (v) => typeof (v as ShardsCore)?.execute === 'function' && Number.isInteger((v as ShardsCore)?.count),
    'a Shards from concord/db',
  ),
  /** Where events go (concord/broker). */
  broker: z.custom<OutboxBroker>((v) => typeof (v as OutboxBroker)?.publish === 'function', 'a Broker'),
  /** Which shard indexes this relay serves. @default every shard */
  shardIndexes: z.array(z.number().int().nonnegative()).optional(),
  /** A name for this relay in leases and logs. @default relay-<random> */
  id: z.string().min(1).optional(),
  /**
   * Aggregates taken per claim. With several loops on one shard (`concurrency`), keep their sum near 256: each
   * claim steps over the heads the other loops hold, and 4 loops x 256 cost PostgreSQL three times the CPU per
   * event of 4 x 64 in the outbox benchmark. @default 256
   */
  aggregatesPerClaim: z.number().int().positive().default(256),
  /** Events of one aggregate taken per claim (published in order in one call). @default 32 */
  eventsPerAggregate: z.number().int().positive().default(32),
  /** Events per claim in all. @default 1000 */
  maxEventsPerClaim: z.number().int().positive().default(1000),
  /** Claim-publish-settle loops per shard in this relay (they take disjoint aggregates). @default 1 */
  concurrency: z.number().int().positive().default(1),
  /**
   * How long a claim holds its rows: a relay killed mid-batch delays their aggregates at most this long. A pass
   * starts no publish after half of it (the rest is released), so a live relay never publishes a row whose lease
   * ran out; keep it above twice the broker's publish timeout. @default 5s
   */
  lease: duration.prefault('5s').refine((ms) => ms >= 200, 'at least 200 ms'),
  /** Poll interval: the most a lost NOTIFY (or a due retry) waits. @default 500ms */
  pollInterval: duration.prefault('500ms'),
  /** Failed attempts of one event before it is dead-lettered. @default 10 */
  maxAttempts: z.number().int().positive().default(10),
  /** Delay before an event that failed is tried again (its aggregate waits). @default 500ms..60s, x2, jitter 0.5 */
  backoff: backoffSchema.default({ initial: 500, max: 60_000, factor: 2, jitter: 0.5 }),
  /**
   * Pause of a shard's loop while the broker is unavailable (attempts are not counted). Capped at 1 s: a retry
   * costs one claim, and a broker back after an outage is drained within a second, not after a long backoff.
   * @default 100ms..1s, x2, jitter 0.5
   */
  brokerBackoff: backoffSchema.default({ initial: 100, max: 1_000, factor: 2, jitter: 0.5 }),
  /**
   * While claims come back full (a backlog), ANALYZE the outbox table at most this often. A queue table's
   * statistics are nearly always stale (it was empty when autovacuum last looked); with them the planner sorts
   * the whole backlog on every claim instead of walking the pending index, ten times slower at 30k rows.
   * 0 turns it off (autovacuum alone). @default 10s
   */
  analyzeInterval: duration.prefault('10s'),
  /** Take only rows whose transaction is below the snapshot's xmin (see claim.ts). @default true */
  commitOrderGuard: z.boolean().default(true),
  /** Wake on the writers' NOTIFY as well as by polling. @default true */
  listen: z.boolean().default(true),
  /**
   * Called as soon as the broker acknowledged events, before their rows are deleted (metrics, benchmarks). If
   * the settle then fails, the events are published again later and reported again.
   */
  onPublished: fn<(events: EventEnvelope[], shard: number) => void>('a function').optional(),
  /**
   * Loop errors survived (database down), and the first claim of each broker outage per shard (the stats count
   * the rest); the loop backs off and goes on. @default console.warn
   */
  onError: fn<(error: unknown, shard: number) => void>('a function').optional(),
  /**
   * Test hook, between publish and settle (where a crash publishes twice): awaited before the rows are
   * deleted. Tests use it to kill the process at exactly that point.
   */
  beforeSettle: fn<(events: EventEnvelope[], shard: number) => void | Promise<void>>('a function').optional(),
})

/** Options of `createRelay`. */
export interface RelayOptions {
  /** The shards whose outboxes this relay drains (concord/db `createShards`). */
  shards: ShardsCore
  /** Where events go (concord/broker). */
  broker: OutboxBroker
  /** Which shard indexes this relay serves. @default every shard */
  shardIndexes?: number[]
  /** A name for this relay in leases and logs. @default relay-<random> */
  id?: string
  /** Aggregates taken per claim. @default 256 */
  aggregatesPerClaim?: number
  /** Events of one aggregate taken per claim (published in order in one call). @default 32 */
  eventsPerAggregate?: number
  /** Events per claim in all. @default 1000 */
  maxEventsPerClaim?: number
  /** Claim-publish-settle loops per shard in this relay (they take disjoint aggregates). @default 1 */
  concurrency?: number
  /**
   * How long a claim holds its rows: a relay killed mid-batch delays their aggregates at most this long. A pass
   * starts no publish after half of it (the rest is released), so a live relay never publishes a row whose lease
   * ran out; keep it above twice the broker's publish timeout. @default 5s
   */
  lease?: Duration
  /** Poll interval: the most a lost NOTIFY (or a due retry) waits. @default 500ms */
  pollInterval?: Duration
  /** Failed attempts of one event before it is dead-lettered. @default 10 */
  maxAttempts?: number
  /** Delay before an event that failed is tried again (its aggregate waits). @default 500ms..60s, x2, jitter 0.5 */
  backoff?: Duration[] | { initial?: Duration; max?: Duration; factor?: number; jitter?: number }
  /**
   * Pause of a shard's loop while the broker is unavailable (attempts are not counted). Capped at 1 s: a retry
   * costs one claim, and a broker back after an outage is drained within a second, not after a long backoff.
   * @default 100ms..1s, x2, jitter 0.5
   */
  brokerBackoff?: Duration[] | { initial?: Duration; max?: Duration; factor?: number; jitter?: number }
  /**
   * While claims come back full (a backlog), ANALYZE the outbox table at most this often. A queue table's
   * statistics are nearly always stale (it was empty when autovacuum last looked); with them the planner sorts
   * the whole backlog on every claim instead of walking the pending index, ten times slower at 30k rows.
   * 0 turns it off (autovacuum alone). @default 10s
   */
  analyzeInterval?: Duration
  /** Take only rows whose transaction is below the snapshot's xmin (see claim.ts). @default true */
  commitOrderGuard?: boolean
  /** Wake on the writers' NOTIFY as well as by polling. @default true */
  listen?: boolean
  /**
   * Called as soon as the broker acknowledged events, before their rows are deleted (metrics, benchmarks). If
   * the settle then fails, the events are published again later and reported again.
   */
  onPublished?: (events: EventEnvelope[], shard: number) => void
  /**
   * Loop errors survived (database down), and the first claim of each broker outage per shard (the stats count
   * the rest); the loop backs off and goes on. @default console.warn
   */
  onError?: (error: unknown, shard: number) => void
  /**
   * Test hook, between publish and settle (where a crash publishes twice): awaited before the rows are
   * deleted. Tests use it to kill the process at exactly that point.
   */
  beforeSettle?: (events: EventEnvelope[], shard: number) => void | Promise<void>
}
export type ResolvedRelayOptions = Readonly<z.output<typeof relaySchema>>
export type { BackoffPolicy }
