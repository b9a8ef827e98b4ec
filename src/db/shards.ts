import { z } from 'zod'
import { InvalidInputError } from '../errors.js'
import { type Duration, duration, parseOptions } from '../options.js'
import { DbClosedError, ShardNotFoundError } from './errors.js'
import { type MigrationReport, migrateNode, orderMigrations } from './migrations.js'
import { ShardHealth } from './replica-health.js'
import { type ReadOptions, ShardRouter } from './router.js'
import { createShardMap, type ShardMap } from './shard-map.js'
import { type Failover, ShardTopology, type TopologySource } from './topology.js'
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
  /**
   * One entry per shard, in shard order: its `primary` and `replicas`, or its `nodes` (every server of the shard,
   * in any order), whose roles are found with `pg_is_in_recovery()` and follow a failover.
   */
  shards: z
    .array(
      z
        .object({
          primary: node.optional(),
          replicas: z.array(node).default([]),
          nodes: z.array(node).min(1).optional(),
        })
        .refine(
          (s) => (s.primary === undefined) !== (s.nodes === undefined),
          'give `primary` (and `replicas`) or `nodes`',
        ),
    )
    .min(1),
  /** Where each shard's roles come from, instead of role detection (Patroni, DNS, your config). @default none */
  topology: z.custom<TopologySource>((v) => typeof v === 'function', 'a function').optional(),
  /** Told each failover found (a new primary, or a timeline switch behind the same address). @default none */
  onFailover: z
    .custom<(failover: Failover) => unknown>((v) => typeof v === 'function', 'a function')
    .optional(),
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
  /**
   * One entry per shard, in shard order: its `primary` and `replicas`, or its `nodes` (every server of the shard,
   * in any order), whose roles are found with `pg_is_in_recovery()` and follow a failover.
   */
  shards: ({ primary: NodeAdapter; replicas?: NodeAdapter[] } | { nodes: NodeAdapter[] })[]
  /** Where each shard's roles come from, instead of role detection (Patroni, DNS, your config). @default none */
  topology?: TopologySource
  /** Told each failover found (a new primary, or a timeline switch behind the same address). @default none */
  onFailover?: (failover: Failover) => void | Promise<void>
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
  /** Each shard's roles as last found: primary, replicas, timeline, the last failover, the nodes left out. */
  topology(): ShardRolesState[]
  /** Finds every shard's roles now (after a failover you caused, say) and returns them. */
  refreshTopology(): Promise<ShardRolesState[]>
  /** LISTEN on a shard's primary; resolves to an unsubscribe function. */
  listen(shard: number, channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>
  /** Stops health checks and closes every node. Later calls fail with `DbClosedError`. */
  close(): Promise<void>
}

/** One shard's roles, as `Shards.topology()` reports them. */
export interface ShardRolesState {
  shard: number
  /** The primary's name. */
  primary: string
  replicas: string[]
  /** The primary's timeline, once read. */
  timeline: number | null
  /** The last failover found on this shard, if any. */
  lastFailover: Failover | null
  /** Nodes of the shard left out of routing, and why (unreachable, a second primary). */
  excluded: { name: string; reason: string }[]
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
  const timeout = Math.max(1, o.healthTimeout)
  const topologies = o.shards.map((s, i) => {
    if (s.nodes) {
      const mode = o.topology ? 'source' : 'detect'
      return new ShardTopology(i, mode, s.nodes, { primary: s.nodes[0]! }, o.topology, timeout)
    }
    const roles = { primary: s.primary!, replicas: s.replicas }
    return new ShardTopology(i, o.topology ? 'source' : 'static', [], roles, o.topology, timeout)
  })
  const healths: ShardHealth[] = []
  const routers: ShardRouter[] = []
  /** Health and routing over a shard's current roles; route counts carry over. */
  const build = (i: number) => {
    const t = topologies[i]!
    healths[i] = new ShardHealth(i, t.primary, t.replicas, o.maxLag, timeout, () => t.timeline)
    const counts = routers[i]?.counts
    routers[i] = new ShardRouter(i, t.primary, t.replicas, healths[i]!, t, () => void refresh(i))
    if (counts) Object.assign(routers[i]!.counts, counts)
  }
  for (let i = 0; i < topologies.length; i++) build(i)
  let closed = false

  /** LISTENs, so they move to a new primary. */
  type Listening = {
    channel: string
    onNotify: (payload: string) => void
    on: NodeAdapter
    stop: () => Promise<void>
  }
  const listening = topologies.map(() => new Set<Listening>())
  const relisten = async (i: number) => {
    const primary = topologies[i]!.primary
    for (const entry of listening[i]!) {
      if (entry.on === primary) continue
      const stop = entry.stop
      entry.stop = async () => {}
      void stop().catch(() => {})
      try {
        entry.stop = await primary.listen(entry.channel, entry.onNotify)
        entry.on = primary
      } catch (error) {
        // A consumer polls too (LISTEN only saves latency); the next role check tries again.
        logger.warn({ shard: i, err: error }, 'LISTEN on the new primary failed')
      }
    }
  }
  const refreshing: (Promise<void> | null)[] = topologies.map(() => null)
  /** Finds shard `i`'s roles (coalesced); rebuilds its routing when they changed, and reports a failover. */
  const refresh = (i: number): Promise<void> => {
    refreshing[i] ??= (async () => {
      const t = topologies[i]!
      const before = [t.primary, ...t.replicas]
      try {
        const failover = await t.refresh()
        const after = [t.primary, ...t.replicas]
        if (failover || before.length !== after.length || before.some((n, k) => n !== after[k])) build(i)
        if (failover) {
          await relisten(i)
          try {
            await o.onFailover?.(failover)
          } catch (error) {
            logger.warn({ shard: i, err: error }, 'the onFailover hook failed')
          }
        } else if (listening[i]!.size > 0) {
          await relisten(i)
        }
      } catch (error) {
        logger.warn({ shard: i, err: error }, 'finding the roles of the shard failed')
      } finally {
        refreshing[i] = null
      }
    })()
    return refreshing[i]!
  }
  // Shards whose roles are found ask their nodes before the first statement; static ones are read as they are.
  const ready = topologies.map((_, i) => (o.shards[i]!.nodes ? refresh(i) : Promise.resolve()))

  let running: Promise<void> | null = null
  const check = (): Promise<void> => {
    running ??= Promise.all(
      topologies.map(async (_, i) => {
        await refresh(i)
        await healths[i]!.check()
      }),
    ).then(
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
    await ready[i]
    const t = topologies[i]!
    const primary = t.primary
    const outcome = await runTransaction(i, primary, fn, isolation, o.retry, logger, () => void refresh(i))
    t.sawPrimaryLsn(primary, outcome.lsn)
    return outcome
  }
  const readShardWithRoute = async <T>(
    shard: number,
    fn: (q: Queryable) => Promise<T>,
    opts: ReadOptions = {},
  ) => {
    const i = shardIndex(shard)
    await ready[i]
    const outcome = await routers[i]!.read(fn, opts)
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
      await ready[i]
      return runStatement(i, topologies[i]!.primary, statement, values, o.retry, () => void refresh(i))
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
      await Promise.all(ready)
      return Promise.all(topologies.map((t, i) => migrateNode(i, t.primary, ordered)))
    },
    health: () => healths.flatMap((h) => h.replicas.map((r) => ({ ...r }))),
    async refreshHealth() {
      open()
      await running
      await check()
      return healths.flatMap((h) => h.replicas.map((r) => ({ ...r })))
    },
    routeCounts: () => routers.map((r) => ({ ...r.counts })),
    topology: () => topologies.map(rolesOf),
    async refreshTopology() {
      open()
      await Promise.all(topologies.map((_, i) => refresh(i)))
      return topologies.map(rolesOf)
    },
    async listen(shard, channel, onNotify) {
      const i = shardIndex(shard)
      await ready[i]
      const on = topologies[i]!.primary
      const entry: Listening = { channel, onNotify, on, stop: await on.listen(channel, onNotify) }
      listening[i]!.add(entry)
      return async () => {
        listening[i]!.delete(entry)
        await entry.stop()
      }
    },
    async close() {
      if (closed) return
      closed = true
      clearInterval(timer)
      await running
      await Promise.all(refreshing)
      const nodes = new Set(topologies.flatMap((t) => [...t.known]))
      await Promise.all([...nodes].map((n) => n.close()))
    },
  }
}

function rolesOf(t: ShardTopology): ShardRolesState {
  return {
    shard: t.shard,
    primary: t.primary.name,
    replicas: t.replicas.map((r) => r.name),
    timeline: t.timeline,
    lastFailover: t.lastFailover,
    excluded: [...t.excluded].map(([node, reason]) => ({ name: node.name, reason })),
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
