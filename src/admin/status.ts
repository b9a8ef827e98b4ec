import type { CheckerTotals, CheckReport, ConvergenceStats, Violation } from '../checker/kit.js'
import { within } from '../within.js'
import { AdminSourceError } from './errors.js'
import type {
  AdminSources,
  BrokerHealthLike,
  CacheStatsLike,
  ChangeFeedLike,
  OutboxShardLike,
  ReplicaLag,
} from './sources.js'

/** One cache instance in the status. Hits and misses are totals since start; rates over a window are deltas. */
export interface CacheStatus {
  name: string
  instance: string
  l1: { enabled: boolean; size: number; hits: number; misses: number; hitRate: number }
  l2: { hits: number; misses: number; hitRate: number; circuit: string }
}

/** `GET /admin/consistency/status`. A section whose source is not wired, or failed, is `null`. */
export interface ConsistencyStatus {
  generatedAt: string
  /** Replication lag per replica of every shard. */
  replicationLag: ReplicaLag[] | null
  /** The largest lag among the replicas that answered, in seconds. */
  maxReplicationLagSeconds: number | null
  /** Hit rates over every cache instance since start: hits / (hits + misses); null before any read of the tier. */
  l1HitRate: number | null
  l2HitRate: number | null
  caches: CacheStatus[] | null
  /** Outbox per shard and its totals. */
  outbox: OutboxShardLike[] | null
  pendingOutboxEvents: number | null
  oldestOutboxAgeMs: number | null
  deadLetters: number | null
  /** Sagas by state. */
  sagas: Record<string, number> | null
  /** Change feeds (WAL invalidation) and their slots' lag. */
  changeFeeds: ChangeFeedLike[] | null
  /** Invalidation bus health of every cache instance (from the caches' stats). */
  bus: {
    healthy: boolean
    members: {
      cache: string
      instance: string
      healthy: boolean
      lagMsP99: number
      disconnects: number
      gaps: number
    }[]
  } | null
  broker: BrokerHealthLike | null
  /** The checker's last report (divergence samples included) and its totals. */
  checker: { last: CheckReport | null; totals: CheckerTotals } | null
  /** Divergences found by the checker's last run. */
  lastInconsistencyCount: number | null
  convergence: (ConvergenceStats & { recentViolations: Violation[] }) | null
  custom: Record<string, unknown> | null
  /** Sections whose source failed: section name to message. */
  errors: Record<string, string>
}

/**
 * Reads every source at once, each bounded by `timeoutMs`, and shapes the status. A failing source makes its
 * section `null` and is reported in `errors` (and to `onError`); the rest is served.
 */
export async function collectStatus(
  sources: AdminSources,
  timeoutMs: number,
  onError: (error: AdminSourceError) => void = () => {},
): Promise<ConsistencyStatus> {
  const errors: Record<string, string> = {}
  const read = async <T>(section: string, fn: (() => T | Promise<T>) | undefined): Promise<T | null> => {
    if (fn === undefined) return null
    try {
      return await bounded(Promise.resolve().then(fn), timeoutMs)
    } catch (error) {
      const failure = new AdminSourceError(section, error)
      errors[section] = failure.message
      onError(failure)
      return null
    }
  }
  const s = sources
  const [replication, caches, outbox, sagas, broker, checker, convergence, custom, changeFeeds] =
    await Promise.all([
      read('replication', s.replication),
      read('caches', s.caches),
      read('outbox', s.outbox),
      read('sagas', s.sagas),
      read('broker', s.broker),
      read(
        'checker',
        s.checker && (() => ({ last: s.checker!.lastReport() ?? null, totals: s.checker!.totals() })),
      ),
      read(
        'convergence',
        s.convergence &&
          (() => ({ ...s.convergence!.stats(), recentViolations: s.convergence!.violations().slice(-10) })),
      ),
      readCustom(s.custom, read),
      read('changeFeeds', s.changeFeeds),
    ])
  const lags = (replication ?? []).map((r) => r.lagSeconds).filter((v): v is number => v !== null)
  return {
    generatedAt: new Date().toISOString(),
    replicationLag: on(replication, (r) => r.map(replicaRow)),
    maxReplicationLagSeconds: replication === null || lags.length === 0 ? null : Math.max(...lags),
    l1HitRate: caches === null ? null : hitRate(caches, 'l1'),
    l2HitRate: caches === null ? null : hitRate(caches, 'l2'),
    caches: on(caches, (c) => c.map(cacheRow)),
    outbox: on(outbox, (list) => list.map((o) => ({ ...o }))),
    pendingOutboxEvents: on(outbox, (list) => list.reduce((sum, o) => sum + o.pending, 0)),
    oldestOutboxAgeMs: on(outbox, (list) => list.reduce((max, o) => Math.max(max, o.oldestAgeMs), 0)),
    deadLetters: on(outbox, (list) => list.reduce((sum, o) => sum + o.deadLetters, 0)),
    sagas: on(sagas, (counts) => ({ ...counts })),
    changeFeeds: on(changeFeeds, (list) => list.map((f) => ({ ...f }))),
    bus: on(caches, busOf),
    broker: on(broker, (b) => ({ ...b })),
    checker,
    lastInconsistencyCount: checker?.last?.inconsistent ?? null,
    convergence,
    custom,
    errors,
  }
}

async function readCustom(
  custom: AdminSources['custom'],
  read: <T>(section: string, fn: (() => T | Promise<T>) | undefined) => Promise<T | null>,
): Promise<Record<string, unknown> | null> {
  if (custom === undefined) return null
  const entries = await Promise.all(
    Object.entries(custom).map(async ([name, fn]) => [name, await read(`custom.${name}`, fn)] as const),
  )
  return Object.fromEntries(entries)
}

/** `f(x)`, or null when the section is null. */
const on = <T, R>(x: T | null, f: (x: T) => R): R | null => (x === null ? null : f(x))

function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  return within(work, ms, () => new Error(`no answer within ${ms} ms`))
}

function replicaRow(r: ReplicaLag): ReplicaLag {
  return {
    shard: r.shard,
    replica: r.replica,
    name: r.name,
    healthy: r.healthy,
    lagBytes: r.lagBytes,
    lagSeconds: r.lagSeconds,
    ...(r.lastError !== undefined && { lastError: r.lastError }),
  }
}

function cacheRow(c: CacheStatsLike): CacheStatus {
  return {
    name: c.name,
    instance: c.instanceId,
    l1: {
      enabled: c.l1.enabled,
      size: c.l1.size,
      hits: c.l1.hits,
      misses: c.l1.misses,
      hitRate: c.l1.hitRate,
    },
    l2: { hits: c.l2.hits, misses: c.l2.misses, hitRate: c.l2.hitRate, circuit: c.l2.circuit },
  }
}

function hitRate(caches: readonly CacheStatsLike[], tier: 'l1' | 'l2'): number | null {
  let hits = 0
  let total = 0
  for (const c of caches) {
    hits += c[tier].hits
    total += c[tier].hits + c[tier].misses
  }
  return total === 0 ? null : hits / total
}

function busOf(caches: readonly CacheStatsLike[]): ConsistencyStatus['bus'] {
  const members = caches.map((c) => ({
    cache: c.name,
    instance: c.instanceId,
    healthy: c.bus.healthy,
    lagMsP99: c.bus.lagMs.p99,
    disconnects: c.bus.disconnects,
    gaps: c.bus.gaps,
  }))
  return { healthy: members.every((m) => m.healthy), members }
}
