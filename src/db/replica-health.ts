import { within } from '../within.js'
import { compareLsn, lsnDiff, maxLsn } from './lsn.js'
import type { NodeAdapter, ReplicaHealth } from './types.js'

/** How far behind its primary a replica may be and still serve reads; beyond either bound it is skipped. */
export interface MaxLag {
  bytes?: number | undefined
  seconds?: number | undefined
}

interface Sample {
  lsn: string
  at: number
}

/** How long primary positions are kept to turn a replica's replay position into an age in seconds. */
const HISTORY_MS = 15 * 60_000

/**
 * Tracks the replicas of one shard: each check reads the primary's WAL position and every replica's replay
 * position together. Lag in bytes is their difference; lag in seconds is how long ago the primary was at
 * the replica's position, from this checker's own samples, so it does not depend on the replica's clock
 * and does not grow while the primary is idle (`now() - pg_last_xact_replay_timestamp()` does both).
 */
export class ShardHealth {
  readonly replicas: ReplicaHealth[]
  private readonly history: Sample[] = []

  constructor(
    readonly shard: number,
    private readonly primary: NodeAdapter,
    private readonly nodes: readonly NodeAdapter[],
    private readonly maxLag: MaxLag,
    private readonly timeoutMs: number,
    /** The primary's timeline as last read (null: unknown). */
    private readonly timeline: () => number | null = () => null,
  ) {
    this.replicas = nodes.map((node, replica) => ({
      shard,
      replica,
      name: node.name,
      healthy: false,
      replayLsn: null,
      lagBytes: null,
      lagSeconds: null,
      lastError: 'not checked yet',
      checkedAt: 0,
    }))
  }

  /** Checks every replica once; never throws (an unreachable node is a state, not an error). */
  async check(): Promise<void> {
    if (this.nodes.length === 0) return
    // Replicas first, then the primary: a replica that follows this primary is then never past it, so one that
    // is past it replays another history (an old primary's lost tail after a failover).
    const replicas = await Promise.allSettled(
      this.nodes.map((node) =>
        this.timed(
          node.query<{ replay: string | null; ts_lag: number | null; tli: number | null }>(
            `SELECT pg_last_wal_replay_lsn()::text AS replay,
                    extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS ts_lag,
                    (SELECT received_tli FROM pg_stat_wal_receiver) AS tli`,
          ),
        ),
      ),
    )
    const [primary] = await Promise.allSettled([
      this.timed(this.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')),
    ])
    const now = Date.now()
    const primaryLsn = primary.status === 'fulfilled' ? (primary.value.rows[0]?.lsn ?? null) : null
    if (primaryLsn) this.remember(primaryLsn, now)
    replicas.forEach((outcome, i) => {
      const state = this.replicas[i]!
      state.checkedAt = now
      if (outcome.status === 'rejected') {
        state.healthy = false
        state.lastError = message(outcome.reason)
        return
      }
      const row = outcome.value.rows[0]
      if (!row?.replay) {
        state.healthy = false
        state.lastError = 'not a replica (pg_last_wal_replay_lsn() is null)'
        return
      }
      // The timeline it receives (visible to a role with pg_read_all_stats, e.g. pg_monitor; else null).
      const timeline = this.timeline()
      if (row.tli != null && timeline !== null && row.tli < timeline) {
        state.healthy = false
        state.replayLsn = null
        state.lastError = `on timeline ${row.tli}, the primary is on ${timeline}: not following the new primary`
        return
      }
      if (primaryLsn && compareLsn(row.replay, primaryLsn) > 0) {
        state.healthy = false
        state.replayLsn = null
        state.lastError = `replayed ${row.replay}, past the primary's ${primaryLsn}: another history (an old primary's)`
        return
      }
      this.observe(i, row.replay)
      if (primaryLsn) {
        state.lagBytes = Math.max(0, lsnDiff(primaryLsn, row.replay))
        state.lagSeconds = state.lagBytes === 0 ? 0 : this.ageOf(row.replay, now, row.ts_lag)
      }
      const tooFar =
        state.lagBytes === null ||
        (this.maxLag.bytes !== undefined && state.lagBytes > this.maxLag.bytes) ||
        (this.maxLag.seconds !== undefined && (state.lagSeconds ?? 0) > this.maxLag.seconds)
      state.healthy = !tooFar
      if (primaryLsn === null) state.lastError = 'primary unreachable: lag unknown'
      else if (tooFar) state.lastError = `lagging ${state.lagBytes} bytes, ${state.lagSeconds?.toFixed(3)} s`
      else delete state.lastError
    })
  }

  /** A replay position seen by a read: positions only move forward while the replica stays up. */
  observe(replica: number, replayLsn: string): void {
    const state = this.replicas[replica]!
    state.replayLsn = maxLsn(state.replayLsn, replayLsn)
  }

  /** Takes a replica out of routing until the next check finds it well (a read on it just failed). */
  markFailed(replica: number, error: unknown): void {
    const state = this.replicas[replica]!
    state.healthy = false
    state.lastError = message(error)
    // Its position may restart lower after a crash; forget it so routing does not prefer it.
    state.replayLsn = null
  }

  private remember(lsn: string, at: number): void {
    const last = this.history.at(-1)
    if (!last || compareLsn(lsn, last.lsn) > 0) this.history.push({ lsn, at })
    while (this.history.length > 1 && this.history[0]!.at < at - HISTORY_MS) this.history.shift()
  }

  /**
   * Seconds the replica has been missing something: since the first sampled primary position past its
   * replay position (accurate to one check interval).
   */
  private ageOf(replay: string, now: number, replayTimestampLag: number | null): number {
    const next = this.history.find((sample) => compareLsn(sample.lsn, replay) > 0)
    if (!next) return 0
    const age = (now - next.at) / 1000
    // Behind every sample kept (as at start-up): the age of its last replayed commit is the better bound.
    return next === this.history[0] ? Math.max(age, replayTimestampLag ?? 0) : age
  }

  private timed<T>(work: Promise<T>): Promise<T> {
    return within(work, this.timeoutMs, () => new Error(`health check timed out after ${this.timeoutMs} ms`))
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
