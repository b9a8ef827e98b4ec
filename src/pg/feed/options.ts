import { z } from 'zod'
import type { Broker } from '../../broker/kit.js'
import { type Duration, duration } from '../../options.js'
import type { FeedCache, FeedTableMapping, FeedTransaction } from '../../outbox/kit.js'
import { schema as nodeSchema } from '../node.js'

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/
const TABLE = /^(?:[A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,62}$/
const fn = <T>(what = 'a function') => z.custom<T>((v) => typeof v === 'function', what)

export const schema = z.object({
  // The connection to the shard's primary: the same fields as createPgNode's.
  ...nodeSchema.pick({
    connectionString: true,
    host: true,
    port: true,
    user: true,
    password: true,
    database: true,
    ssl: true,
  }).shape,
  /** The replication slot: one per feed, and one consumer per slot at a time. @default 'concord_feed' */
  slot: z.string().regex(IDENTIFIER, 'a lower-case identifier (a-z, 0-9, _)').default('concord_feed'),
  /** The publication of the mapped tables. @default the slot's name */
  publication: z.string().regex(IDENTIFIER, 'a lower-case identifier (a-z, 0-9, _)').optional(),
  /** Per table (`products` or `schema.products`): the cache keys, tags and events its changes make. */
  tables: z
    .record(
      z.string().regex(TABLE, 'a table name (schema.table or table)'),
      z.custom<FeedTableMapping>((v) => typeof v === 'object' && v !== null, 'a table mapping'),
    )
    .refine((t) => Object.keys(t).length > 0, 'at least one table'),
  /** The caches the mappings name. @default {} */
  caches: z
    .record(
      z.string(),
      z.custom<FeedCache>((v) => typeof (v as FeedCache)?.invalidate === 'function', 'a cache'),
    )
    .default({}),
  /** Where mapped events go (for projections). Required when a mapping has `events`. */
  broker: z
    .custom<Pick<Broker, 'publish'>>((v) => typeof (v as Broker)?.publish === 'function', 'a Broker')
    .optional(),
  /**
   * Create the publication and the slot when missing at `start()`. Once a feed has streamed, a slot that
   * disappears (a failover) is reported, never silently recreated. @default true
   */
  createSlot: z.boolean().default(true),
  /** Skip keys whose L2 already holds an invalidation at or past the change (the writer's or the outbox's). @default true */
  dedup: z.boolean().default(true),
  /** Transactions applied together at most. @default 1000 */
  maxBatch: z.number().int().positive().default(1000),
  /** Received, unapplied transactions at which the stream is paused until they are applied. @default 20000 */
  maxPending: z.number().int().positive().default(20_000),
  /** Wait between attempts to attach (slot in use by another consumer, connection lost, slot missing). @default '1s' */
  retryInterval: duration.prefault('1s'),
  /** Longest wait between attempts to apply a batch that failed (a cache or broker down). @default '5s' */
  maxBackoff: duration.prefault('5s'),
  /** `application_name` of the feed's connections. @default 'concord-feed' */
  applicationName: z.string().default('concord-feed'),
  /** Errors the feed retries past (connection lost, slot busy or missing, a batch that failed). @default console.warn */
  onError: fn<(error: unknown) => void>().optional(),
  /** Called with each batch after it was received, before it is applied (tests, tracing). */
  beforeApply: fn<(batch: readonly FeedTransaction[]) => Promise<void> | void>().optional(),
})

/** Options of `createChangeFeed`: where the primary is, the slot and publication, and the mapping. */
export interface ChangeFeedOptions {
  /** `postgres://user:pass@host:port/db` of the shard's primary; or the separate fields below. */
  connectionString?: string
  host?: string
  port?: number
  user?: string
  password?: string
  database?: string
  ssl?: boolean | Record<string, unknown>
  /** The replication slot: one per feed, and one consumer per slot at a time. @default 'concord_feed' */
  slot?: string
  /** The publication of the mapped tables. @default the slot's name */
  publication?: string
  /** Per table (`products` or `schema.products`): the cache keys, tags and events its changes make. */
  tables: Record<string, FeedTableMapping>
  /** The caches the mappings name. @default {} */
  caches?: Record<string, FeedCache>
  /** Where mapped events go (for projections). Required when a mapping has `events`. */
  broker?: Pick<Broker, 'publish'>
  /**
   * Create the publication and the slot when missing at `start()`. Once a feed has streamed, a slot that
   * disappears (a failover) is reported, never silently recreated. @default true
   */
  createSlot?: boolean
  /** Skip keys whose L2 already holds an invalidation at or past the change (the writer's or the outbox's). @default true */
  dedup?: boolean
  /** Transactions applied together at most. @default 1000 */
  maxBatch?: number
  /** Received, unapplied transactions at which the stream is paused until they are applied. @default 20000 */
  maxPending?: number
  /** Wait between attempts to attach (slot in use by another consumer, connection lost, slot missing). @default '1s' */
  retryInterval?: Duration
  /** Longest wait between attempts to apply a batch that failed (a cache or broker down). @default '5s' */
  maxBackoff?: Duration
  /** `application_name` of the feed's connections. @default 'concord-feed' */
  applicationName?: string
  /** Errors the feed retries past (connection lost, slot busy or missing, a batch that failed). @default console.warn */
  onError?: (error: unknown) => void
  /** Called with each batch after it was received, before it is applied (tests, tracing). */
  beforeApply?: (batch: readonly FeedTransaction[]) => Promise<void> | void
}

export type ParsedChangeFeedOptions = z.output<typeof schema>
