import type { Checker, ConvergenceTracer } from '../checker/kit.js'

/**
 * What the status API reads. Each section is a small provider the application wires to its own parts; a
 * section left out is `null` in the status. The shapes are the subsets the status needs of concord's own
 * objects, so `shards.health()`, `cache.stats()`, `outboxAdmin.status()` (or a relay's), `sagaAdmin.counts()`
 * (or an engine's), `broker.health()` plug in as they are.
 */
export interface AdminSources {
  /** Replica lag per replica of every shard: `() => shards.health()`. */
  replication?: () => Awaitable<readonly ReplicaLag[]>
  /** Every cache instance's stats: `() => [productsA.stats(), productsB.stats(), ...]`. Bus health is read from them. */
  caches?: () => Awaitable<readonly CacheStatsLike[]>
  /** The outbox of every shard: `() => outboxAdmin.status()` (`createOutboxAdmin({ shards })`, no relay needed). */
  outbox?: () => Awaitable<readonly OutboxShardLike[]>
  /** Sagas by state: `() => sagaAdmin.counts()` (`createSagaAdmin({ log })`, no engine needed). */
  sagas?: () => Awaitable<Readonly<Record<string, number>>>
  /** The event broker: `() => broker.health()`. */
  broker?: () => Awaitable<BrokerHealthLike>
  /** The consistency checker: its last report and totals; `POST /admin/consistency/check` runs it. */
  checker?: Pick<Checker, 'lastReport' | 'totals' | 'run' | 'history'>
  /** The convergence tracer: per-path convergence times, the share within 1 s, violations. */
  convergence?: Pick<ConvergenceTracer, 'stats' | 'violations'>
  /**
   * Raw state of a key in one of this process's caches (`cache.inspect(key)`), or `undefined` for an unknown
   * cache; served by `GET /admin/internal/caches/:cache/:key` so a convergence tracer in another process can
   * probe this instance's L1 (`httpProbe`).
   */
  inspect?: (cache: string, key: string) => Awaitable<unknown>
  /** Change feeds (concord/pg `createChangeFeed`), their slots' lag: `async () => [await feed.status()]`. */
  changeFeeds?: () => Awaitable<readonly ChangeFeedLike[]>
  /** More sections, shown as they are under `custom` (JSON-able values). */
  custom?: Readonly<Record<string, () => Awaitable<unknown>>>
}

type Awaitable<T> = T | Promise<T>

/** A replica as `shards.health()` reports it. */
export interface ReplicaLag {
  shard: number
  replica: number
  name: string
  healthy: boolean
  lagBytes: number | null
  lagSeconds: number | null
  lastError?: string
}

/** The part of `cache.stats()` the status shows. */
export interface CacheStatsLike {
  name: string
  instanceId: string
  l1: { enabled: boolean; size: number; hits: number; misses: number; hitRate: number }
  l2: { hits: number; misses: number; hitRate: number; circuit: string }
  bus: {
    healthy: boolean
    disconnects: number
    gaps: number
    lagMs: { p50: number; p99: number; max: number }
  }
}

/** One shard's outbox as `relay.status()` reports it. */
export interface OutboxShardLike {
  shard: number
  pending: number
  retrying?: number
  deadLetters: number
  oldestAgeMs: number
}

/** The part of a change feed's `status()` the status shows. */
export interface ChangeFeedLike {
  slot: string
  state: string
  slotExists: boolean
  slotActive: boolean
  /** WAL the slot retains, not yet acknowledged. */
  lagBytes: number
  lagSeconds: number
  pending: number
  lastError?: string
}

/** `broker.health()`. */
export interface BrokerHealthLike {
  connected: boolean
  subscriptions?: number
  lastError?: string
}
