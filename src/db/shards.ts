import { z } from 'zod'
import { InvalidInputError } from '../errors.js'
import { type Duration, duration, parseOptions } from '../options.js'
import { DbClosedError, ShardNotFoundError } from './errors.js'
import { type MigrationReport, migrateNode, orderMigrations } from './migrations.js'
import { ShardHealth } from './replica-health.js'
import { type ReadOptions, ShardRouter } from './router.js'
import { createShardMap, type ShardMap } from './shard-map.js'
import { type DbLogger, runStatement, runTransaction } from './transactions.js'
import type {
  Isolation,
  Migration,
  NodeAdapter,
  Queryable,
  ReadRoute,
  ReplicaHealth,
  ShardStatements,
  SqlResult,
  SqlStatement,
  Tx,
} from './types.js'

const ISOLATIONS: readonly Isolation[] = ['read committed', 'repeatable read', 'serializable']

const isNode = (v: unknown): v is NodeAdapter =>
  typeof v === 'object' &&
  v !== null &&
  ['query', 'session', 'transaction', 'listen', 'close'].every(
    (m) => typeof (v as Record<string, unknown>)[m] === 'function',
  )
const node = z.custom<NodeAdapter>(isNode, 'a node adapter: createPgNode(...) or createPgliteNode(...)')

export const schema = z.object({
  /** One entry per shard, in shard order. */
  shards: z.array(z.object({ primary: node, replicas: z.array(node).default([]) })).min(1),
  /** Key to shard. @default createShardMap({ shards: shards.length }) (4096 slots, equal ranges) */
  map: z.custom<ShardMap>((v) => typeof (v as ShardMap)?.shardFor === 'function', 'a ShardMap').optional(),
  /** A replica further behind than either bound serves no reads. @default { bytes: 16 MiB, seconds: 5 } */
  maxLag: z
    .object({
      bytes: z
        .number()
        .int()
        .nonnegative()
        .default(16 * 1024 * 1024),
      seconds: z.number().nonnegative().default(5),
    })
    .prefault({}),
  /** How often replica health is checked in the background. @default '1s' */
  healthInterval: duration.prefault('1s'),
  /** A health check slower than this marks the replica unreachable. @default '2s' */
  healthTimeout: duration.prefault('2s'),
  /** Serialisation failures and deadlocks: attempts in all, and the first pause. @default { attempts: 5, backoff: '10ms' } */
  retry: z
    .object({ attempts: z.number().int().positive().default(5), backoff: duration.prefault('10ms') })
    .prefault({}),
  /** Receives errors of `afterCommit` callbacks. @default console */
  logger: z
    .custom<DbLogger>((v) => typeof (v as DbLogger)?.warn === 'function', 'a logger with warn()')
    .optional(),
})

/** Options of `createShards` for one or more shards. */
export interface ShardedOptions {
  /** One entry per shard, in shard order. */
  shards: { primary: NodeAdapter; replicas?: NodeAdapter[] }[]
  /** Key to shard. @default createShardMap({ shards: shards.length }) (4096 slots, equal ranges) */
  map?: ShardMap
  /** A replica further behind than either bound serves no reads. @default { bytes: 16 MiB, seconds: 5 } */
  maxLag?: { bytes?: number; seconds?: number }
  /** How often replica health is checked in the background. @default '1s' */
  healthInterval?: Duration
  /** A health check slower than this marks the replica unreachable. @default '2s' */
  healthTimeout?: Duration
  /** Serialisation failures and deadlocks: attempts in all, and the first pause. @default { attempts: 5, backoff: '10ms' } */
  retry?: { attempts?: number; backoff?: Duration }
  /** Receives errors of `afterCommit` callbacks. @default console */
  logger?: DbLogger
}

/** One database needs no shard map: `{ primary, replicas? }` (with the other fields) is one shard, every key its. */
export interface SingleDatabaseOptions extends Omit<ShardedOptions, 'shards' | 'map'> {
  /** The database's primary, e.g. `createPgNode({ pool })` on the application's own pool. */
  primary: NodeAdapter
  /** Its streaming replicas, if reads may go there. @default none */
  replicas?: NodeAdapter[]
}

/** Options of `createShards`: a shard list (and map), or one database. */
export type ShardsOptions = ShardedOptions | SingleDatabaseOptions

/** Options of one `withTransaction`/`onShard` call. */
export interface TransactionOptions {
  /** @default 'read committed' */
  isolation?: Isolation
}

/** N shards, each a primary with zero or more streaming replicas. */
export interface Shards extends ShardStatements {
  readonly count: number
  readonly map: ShardMap
  /** The shard index of a key; `ShardNotFoundError` when it maps nowhere. */
  shardFor(shardKey: string | number): number
  /**
   * Runs `fn` in a transaction on the key's primary and returns its result and the commit LSN, a session
   * token for `read(..., { minLsn })`. Retries 40001/40P01 (`fn` may run more than once).
   */
  withTransaction<T>(
    shardKey: string | number,
    fn: (tx: Tx) => Promise<T>,
    opts?: TransactionOptions,
  ): Promise<{ result: T; lsn: string }>
  /** `withTransaction` by shard index (admin, relays, migrations). */
  onShard<T>(
    shard: number,
    fn: (tx: Tx) => Promise<T>,
    opts?: TransactionOptions,
  ): Promise<{ result: T; lsn: string }>
  /**
   * Runs one statement on a shard's primary in its own transaction (autocommit): one round trip where
   * `onShard` takes three (BEGIN, the statement, COMMIT). Retries 40001/40P01 like `onShard`. The statement is
   * text, or node-postgres' `{ name, text, values }` (named: prepared once per connection).
   */
  execute<R = Record<string, unknown>>(
    shard: number,
    statement: string | SqlStatement,
    values?: unknown[],
  ): Promise<SqlResult<R>>
  /** Runs a read on a replica (one that replayed `minLsn`, if given) or the primary. `fn` may run twice. */
  read<T>(shardKey: string | number, fn: (q: Queryable) => Promise<T>, opts?: ReadOptions): Promise<T>
  /** `read`, also telling which node served it. */
  readWithRoute<T>(
    shardKey: string | number,
    fn: (q: Queryable) => Promise<T>,
    opts?: ReadOptions,
  ): Promise<{ result: T; route: ReadRoute }>
  /** `read` by shard index. */
  readShard<T>(shard: number, fn: (q: Queryable) => Promise<T>, opts?: ReadOptions): Promise<T>
  /** `readWithRoute` by shard index. */
  readShardWithRoute<T>(
    shard: number,
    fn: (q: Queryable) => Promise<T>,
    opts?: ReadOptions,
  ): Promise<{ result: T; route: ReadRoute }>
  /** Runs `fn` on every shard at once; results in shard order. Rejects with the first failure. */
  scatter<T>(fn: (q: Queryable, shard: number) => Promise<T>, opts?: { primary?: boolean }): Promise<T[]>
  /** Applies pending migrations to every shard's primary (see `migrateNode`). */
  migrate(migrations: readonly Migration[]): Promise<MigrationReport[]>
  /** Replica health as last checked, every shard. */
  health(): ReplicaHealth[]
  /** Checks every replica now and returns the result. */
  refreshHealth(): Promise<ReplicaHealth[]>
  /** Reads served so far, by shard and route reason. */
  routeCounts(): Record<ReadRoute['reason'], number>[]
  /** LISTEN on a shard's primary; resolves to an unsubscribe function. */
  listen(shard: number, channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>
  /** Stops health checks and closes every node. Later calls fail with `DbClosedError`. */
  close(): Promise<void>
}

/**
 * The part of `Shards` that writes on primaries (no replica routing): what the outbox relay, the inbox and
 * their admin handles run on. A test can hand in one shard of a larger set.
 */
export type ShardsCore = Pick<
  Shards,
  'count' | 'shardFor' | 'onShard' | 'execute' | 'withTransaction' | 'listen'
>

/** Builds the shards from node adapters. Health checks start at once and run every `healthInterval`. */
export function createShards(options: ShardsOptions): Shards {
  const o = parseOptions('createShards', schema, oneShard(options))
  const count = o.shards.length
  const map = o.map ?? createShardMap({ shards: count })
  if (map.shards > count) {
    throw new ShardNotFoundError(`the shard map has ${map.shards} shards, but ${count} are configured`, {
      mapShards: map.shards,
      count,
    })
  }
  const logger: DbLogger = o.logger ?? { warn: (context, message) => console.warn(message, context) }
  const healths = o.shards.map(
    (s, i) => new ShardHealth(i, s.primary, s.replicas, o.maxLag, Math.max(1, o.healthTimeout)),
  )
  const routers = o.shards.map((s, i) => new ShardRouter(i, s.primary, s.replicas, healths[i]!))
  let closed = false

  let running: Promise<void> | null = null
  const check = (): Promise<void> => {
    running ??= Promise.all(healths.map((h) => h.check())).then(
      () => {
        running = null
      },
      () => {
        running = null
      },
    )
    return running
  }
  const timer = setInterval(() => void check(), Math.max(10, o.healthInterval))
  timer.unref()
  void check()

  const open = () => {
    if (closed) throw new DbClosedError('shards')
  }
  const shardIndex = (shard: number): number => {
    open()
    if (!Number.isInteger(shard) || shard < 0 || shard >= count) {
      throw new ShardNotFoundError(`no shard ${shard}: there are ${count}`, { shard, count })
    }
    return shard
  }
  const shardFor = (shardKey: string | number): number => {
    const shard = map.shardFor(shardKey)
    if (shard >= count) {
      throw new ShardNotFoundError(
        `key ${String(shardKey)} maps to shard ${shard}, which is not configured`,
        {
          shardKey,
          shard,
          count,
        },
      )
    }
    return shard
  }
  const onShard = async <T>(shard: number, fn: (tx: Tx) => Promise<T>, opts: TransactionOptions = {}) => {
    const i = shardIndex(shard)
    const isolation = opts.isolation ?? 'read committed'
    // It goes into the BEGIN statement's text (a level cannot be a parameter): only the three names pass.
    if (!ISOLATIONS.includes(isolation)) {
      throw new InvalidInputError(`isolation must be one of ${ISOLATIONS.join(', ')}`, { isolation })
    }
    return runTransaction(i, o.shards[i]!.primary, fn, isolation, o.retry, logger)
  }
  const readShardWithRoute = async <T>(
    shard: number,
    fn: (q: Queryable) => Promise<T>,
    opts: ReadOptions = {},
  ) => {
    const outcome = await routers[shardIndex(shard)]!.read(fn, opts)
    opts.onRoute?.(outcome.route)
    return outcome
  }

  return {
    count,
    map,
    shardFor: (shardKey) => {
      open()
      return shardFor(shardKey)
    },
    withTransaction: async (shardKey, fn, opts) => onShard(shardFor(shardKey), fn, opts),
    onShard,
    execute: async (shard, statement, values) => {
      const i = shardIndex(shard)
      return runStatement(i, o.shards[i]!.primary, statement, values, o.retry)
    },
    read: async (shardKey, fn, opts) => (await readShardWithRoute(shardFor(shardKey), fn, opts)).result,
    readWithRoute: async (shardKey, fn, opts) => readShardWithRoute(shardFor(shardKey), fn, opts),
    readShard: async (shard, fn, opts) => (await readShardWithRoute(shard, fn, opts)).result,
    readShardWithRoute,
    scatter: async (fn, opts = {}) =>
      Promise.all(
        o.shards.map(
          async (_, i) => (await readShardWithRoute(i, (q) => fn(q, i), { primary: opts.primary })).result,
        ),
      ),
    async migrate(migrations) {
      open()
      const ordered = orderMigrations(migrations)
      return Promise.all(o.shards.map((s, i) => migrateNode(i, s.primary, ordered)))
    },
    health: () => healths.flatMap((h) => h.replicas.map((r) => ({ ...r }))),
    async refreshHealth() {
      open()
      await running
      await check()
      return healths.flatMap((h) => h.replicas.map((r) => ({ ...r })))
    },
    routeCounts: () => routers.map((r) => ({ ...r.counts })),
    async listen(shard, channel, onNotify) {
      return o.shards[shardIndex(shard)]!.primary.listen(channel, onNotify)
    },
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      await running
      await Promise.all(o.shards.flatMap((s) => [s.primary, ...s.replicas]).map((n) => n.close()))
    },
  }
}

/** `{ primary, replicas }` as the one-shard list, so a single database is one call with no shard map. */
function oneShard(options: ShardsOptions): unknown {
  if (typeof options !== 'object' || options === null || !('primary' in options)) return options
  if ('shards' in options) {
    throw new InvalidInputError('createShards: give `shards` or one `primary`, not both', {})
  }
  const { primary, replicas, ...rest } = options
  return { ...rest, shards: [{ primary, replicas }] }
}
