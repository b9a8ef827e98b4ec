import { InvalidInputError } from '../errors.js'
import { isConnectionError, ShardUnavailableError } from './errors.js'
import { compareLsn, isLsn } from './lsn.js'
import type { ShardHealth } from './replica-health.js'
import type { ShardTopology } from './topology.js'
import type { NodeAdapter, Queryable, ReadRoute } from './types.js'

/** How `Shards.read` picks a node for one read. */
export interface ReadOptions {
  /**
   * A session token from `withTransaction` (or an invalidation): the read runs on a replica that has
   * replayed at least this LSN, else on the primary. Without it, any healthy replica will do.
   */
  minLsn?: string | undefined
  /** Read on the primary. @default false */
  primary?: boolean | undefined
  /** Told which node served the read (for tests, metrics and the verify tool). */
  onRoute?: ((route: ReadRoute) => void) | undefined
}

/** Where a connection's memo keeps the replay position last read on it. */
const REPLAYED = 'concord.replayLsn'

/** Replicas tried with a live LSN check before a read gives up and goes to the primary. */
const MAX_REPLICA_TRIES = 2

/**
 * Chooses the node for a read on one shard. A replica serves only when the health check found it within
 * `maxLag`; with `minLsn`, only after its replay position, read on the same connection the read then
 * uses, is at or past `minLsn`. A position read on one connection cannot go backwards on it (a replica
 * restart ends the connection), so each connection remembers the last one it read and skips the check
 * when that already covers the token; a position cached per replica could go back after a restart. A replica failing mid-read is taken out of routing and the
 * read runs again elsewhere, so reads fail only when the primary does. `fn` may therefore run twice.
 */
export class ShardRouter {
  private next = 0
  readonly counts: Record<ReadRoute['reason'], number> = {
    'primary-requested': 0,
    'no-replica': 0,
    replica: 0,
    'replica-caught-up': 0,
    'replica-behind': 0,
    'replica-failed': 0,
    'token-beyond-primary': 0,
  }

  constructor(
    readonly shard: number,
    private readonly primary: NodeAdapter,
    private readonly replicas: readonly NodeAdapter[],
    private readonly health: ShardHealth,
    private readonly topology?: ShardTopology,
    /** Called when the primary fails a read: its roles are looked up again. */
    private readonly onPrimaryFault?: () => void,
  ) {}

  async read<T>(
    fn: (q: Queryable) => Promise<T>,
    options: ReadOptions = {},
  ): Promise<{ result: T; route: ReadRoute }> {
    const { minLsn } = options
    if (minLsn !== undefined && !isLsn(minLsn)) {
      throw new InvalidInputError(`minLsn is not a PostgreSQL LSN: ${JSON.stringify(minLsn)}`, { minLsn })
    }
    if (options.primary) return this.onPrimary(fn, 'primary-requested')
    const candidates = this.candidates(minLsn)
    if (candidates.length === 0) return this.onPrimary(fn, await this.beyond(minLsn, 'no-replica'))
    let behind = false
    for (const replica of candidates.slice(0, MAX_REPLICA_TRIES)) {
      const node = this.replicas[replica]!
      try {
        if (minLsn === undefined) {
          return { result: await fn(node), route: this.route('replica', replica) }
        }
        const outcome = await node.session(async (session) => {
          // A position this connection saw already covers the token: no round trip needed.
          const seen = session.memo?.get(REPLAYED) as string | undefined
          if (seen === undefined || compareLsn(seen, minLsn) < 0) {
            const { rows } = await session.query<{ lsn: string | null }>(
              'SELECT pg_last_wal_replay_lsn()::text AS lsn',
            )
            const lsn = rows[0]?.lsn ?? null
            if (lsn === null) throw new Error(`${node.name} is not in recovery`)
            session.memo?.set(REPLAYED, lsn)
            this.health.observe(replica, lsn)
            if (compareLsn(lsn, minLsn) < 0) return null
          }
          return { result: await fn(session) }
        })
        if (outcome) return { result: outcome.result, route: this.route('replica-caught-up', replica) }
        behind = true
      } catch (error) {
        if (!isReplicaFault(error)) throw error
        this.health.markFailed(replica, error)
      }
    }
    return this.onPrimary(fn, await this.beyond(minLsn, behind ? 'replica-behind' : 'replica-failed'))
  }

  /**
   * After a failover, a token past the switch point may name a commit the new primary never had: no replica
   * will ever replay it, and the primary is all there is. Said as its own reason ('token-beyond-primary') when
   * the primary's position, read now, is behind the token; one extra round trip, only for such tokens.
   */
  private async beyond(
    minLsn: string | undefined,
    reason: ReadRoute['reason'],
  ): Promise<ReadRoute['reason']> {
    const switched = this.topology?.lastFailover?.switchLsn
    if (minLsn === undefined || !switched || compareLsn(minLsn, switched) <= 0) return reason
    const seen = this.topology!.primaryLsn
    if (seen !== null && compareLsn(minLsn, seen) <= 0) return reason
    try {
      const { rows } = await this.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
      const lsn = rows[0]?.lsn
      if (!isLsn(lsn)) return reason
      this.topology!.sawPrimaryLsn(this.primary, lsn)
      return compareLsn(minLsn, lsn) > 0 ? 'token-beyond-primary' : reason
    } catch {
      // The read itself will say what is wrong with the primary.
      return reason
    }
  }

  /** Healthy replicas, round robin; with `minLsn`, those known to have replayed it first. */
  private candidates(minLsn: string | undefined): number[] {
    const healthy = this.health.replicas.filter((r) => r.healthy).map((r) => r.replica)
    if (healthy.length === 0) return healthy
    const start = this.next++ % healthy.length
    const rotated = [...healthy.slice(start), ...healthy.slice(0, start)]
    if (minLsn === undefined) return rotated
    const known = (i: number) => {
      const lsn = this.health.replicas[i]!.replayLsn
      return lsn !== null && compareLsn(lsn, minLsn) >= 0
    }
    return [...rotated.filter(known), ...rotated.filter((i) => !known(i))]
  }

  private async onPrimary<T>(fn: (q: Queryable) => Promise<T>, reason: ReadRoute['reason']) {
    const route: ReadRoute = { shard: this.shard, node: 'primary', name: this.primary.name, reason }
    this.counts[reason]++
    try {
      return { result: await fn(this.primary), route }
    } catch (error) {
      if (isConnectionError(error)) {
        this.onPrimaryFault?.()
        throw new ShardUnavailableError(this.shard, this.primary.name, error)
      }
      throw error
    }
  }

  private route(reason: ReadRoute['reason'], replica: number): ReadRoute {
    this.counts[reason]++
    return { shard: this.shard, node: 'replica', replica, name: this.replicas[replica]!.name, reason }
  }
}

/**
 * A replica that cannot serve: its connection failed, or a query was cancelled by a recovery conflict
 * (hot standby reports those as 40001/40P01), or it is not a replica any more.
 */
function isReplicaFault(error: unknown): boolean {
  if (isConnectionError(error)) return true
  const code = (error as { code?: unknown } | null)?.code
  if (code === '40001' || code === '40P01' || code === 'E_CLOSED') return true
  return error instanceof Error && /is not in recovery/.test(error.message)
}
