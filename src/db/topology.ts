import { within } from '../within.js'
import { compareLsn, isLsn } from './lsn.js'
import type { NodeAdapter } from './types.js'

/** Which node of a shard is its primary, and which are its replicas. */
export interface ShardRoles {
  primary: NodeAdapter
  replicas?: readonly NodeAdapter[]
}

/**
 * Tells concord a shard's current roles, for a setup where something else knows them (Patroni, a DNS name, an
 * operator's config). Called on every health check and after a write failed on the primary. Return the same
 * adapter object for the same server each time (keep them in a Map): concord closes every adapter it was
 * given, once, at `close()`.
 */
export type TopologySource = (shard: number, current: ShardRoles) => Promise<ShardRoles>

/** A shard's primary changed: a failover (or a switchover) happened, found by role detection or a timeline switch. */
export interface Failover {
  shard: number
  /** The node that was primary (its name), and the one that is now. The same name: a switch behind one address. */
  from: string
  to: string
  /** The timeline ids, when read (from the WAL file name of the primary's current position). */
  fromTimeline: number | null
  timeline: number | null
  /**
   * Where the new primary's history leaves the old one's (its `pg_last_wal_replay_lsn()` right after the
   * promotion): a commit on the old primary past this position is lost, whatever it was told. Null when unknown.
   */
  switchLsn: string | null
  /** The old primary's last position this process saw: (switchLsn, lastOldLsn] is what may have been lost. */
  lastOldLsn: string | null
  /** When it was found (ms since the epoch, this process's clock; for logs only). */
  at: number
}

/** What one node says about itself. */
export interface NodeRole {
  recovery: boolean
  /** Current WAL position of a primary; replay position of a replica. */
  lsn: string | null
  /** A primary's timeline. */
  timeline: number | null
  /** `pg_last_wal_replay_lsn()`: on a promoted primary, where its recovery ended (the switch point). */
  replayed: string | null
}

// CASE keeps pg_walfile_name (an error during recovery) off replicas. Every function here is executable by PUBLIC.
const ROLE_SQL = `SELECT pg_is_in_recovery() AS recovery,
  (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn,
  CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile,
  pg_last_wal_replay_lsn()::text AS replayed`

/** Asks a node whether it is in recovery, where its WAL is, and on which timeline. */
export async function probeRole(node: NodeAdapter, timeoutMs: number): Promise<NodeRole> {
  const { rows } = await within(
    node.query<{ recovery: boolean; lsn: string | null; walfile: string | null; replayed: string | null }>(
      ROLE_SQL,
    ),
    timeoutMs,
    () => new Error(`role check of ${node.name} timed out after ${timeoutMs} ms`),
  )
  const row = rows[0]!
  return {
    recovery: row.recovery,
    lsn: isLsn(row.lsn) ? row.lsn : null,
    // A WAL file name is TTTTTTTTXXXXXXXXYYYYYYYY: its first 8 hex digits are the timeline.
    timeline: row.walfile ? Number.parseInt(row.walfile.slice(0, 8), 16) : null,
    replayed: isLsn(row.replayed) ? row.replayed : null,
  }
}

/**
 * The roles of one shard's nodes. `static`: the configured primary stays it, and only a timeline switch behind its
 * address is detected. `detect`: the primary is the node out of recovery (`pg_is_in_recovery()` false) on the
 * highest timeline; a second one (an old primary restarted on its own timeline: a split brain) is left out.
 * `source`: the user's `TopologySource` says. In every mode a primary whose timeline went up is a failover.
 */
export class ShardTopology {
  primary: NodeAdapter
  replicas: readonly NodeAdapter[]
  timeline: number | null = null
  /** The last failover seen, if any. */
  lastFailover: Failover | null = null
  /** Every node ever seen (closed at the end). */
  readonly known = new Set<NodeAdapter>()
  /** Nodes left out of routing, with why (a second primary, an unreachable node). */
  readonly excluded = new Map<NodeAdapter, string>()
  private initialised = false
  private lastLsn: string | null = null
  private lastReplayed = new Map<NodeAdapter, string>()

  constructor(
    readonly shard: number,
    private readonly mode: 'static' | 'detect' | 'source',
    private readonly nodes: readonly NodeAdapter[],
    initial: ShardRoles,
    private readonly source: TopologySource | undefined,
    private readonly timeoutMs: number,
  ) {
    this.primary = initial.primary
    this.replicas = initial.replicas ?? []
    for (const node of [...nodes, this.primary, ...this.replicas]) this.known.add(node)
  }

  /** Finds the current roles; returns the failover when the primary changed. Throws only when no primary is found. */
  async refresh(): Promise<Failover | null> {
    const { roles, probed } = await this.resolve()
    const role = probed ?? (await probeRole(roles.primary, this.timeoutMs).catch(() => null))
    const first = !this.initialised
    this.initialised = true
    const changed = !first && roles.primary !== this.primary
    const timelineUp = role?.timeline != null && this.timeline !== null && role.timeline > this.timeline
    // A static address answering with a lower position on the same timeline is a different history too.
    const regressed =
      !changed &&
      !timelineUp &&
      role?.lsn != null &&
      role.timeline !== null &&
      this.lastLsn !== null &&
      role.timeline === this.timeline &&
      compareLsn(role.lsn, this.lastLsn) < 0
    let failover: Failover | null = null
    if (changed || timelineUp || regressed) {
      failover = {
        shard: this.shard,
        from: this.primary.name,
        to: roles.primary.name,
        fromTimeline: this.timeline,
        timeline: role?.timeline ?? null,
        // Its replay position as a replica is a lower bound when the promoted node no longer reports one.
        switchLsn: role?.replayed ?? this.lastReplayed.get(roles.primary) ?? null,
        lastOldLsn: this.lastLsn,
        at: Date.now(),
      }
      this.lastFailover = failover
    }
    this.primary = roles.primary
    this.replicas = roles.replicas ?? []
    for (const node of [this.primary, ...this.replicas]) this.known.add(node)
    if (role?.timeline != null) this.timeline = role.timeline
    if (failover) this.lastLsn = null
    if (role?.lsn != null && !role.recovery) this.sawPrimaryLsn(this.primary, role.lsn)
    return failover
  }

  /** The highest position this process saw on the current primary (probes and its own commits). */
  get primaryLsn(): string | null {
    return this.lastLsn
  }

  /** `node` had a commit at `lsn` (this process's own writes); one on a node no longer primary is ignored. */
  sawPrimaryLsn(node: NodeAdapter, lsn: string): void {
    if (node !== this.primary) return
    if (this.lastLsn === null || compareLsn(lsn, this.lastLsn) > 0) this.lastLsn = lsn
  }

  /** The roles, and the primary's own answer when it was already asked. */
  private async resolve(): Promise<{ roles: ShardRoles; probed?: NodeRole }> {
    const current = { primary: this.primary, replicas: this.replicas }
    if (this.mode === 'static') return { roles: current }
    if (this.mode === 'source') return { roles: await this.source!(this.shard, current) }
    const probes = await Promise.all(
      this.nodes.map(async (node) => {
        try {
          return { node, role: await probeRole(node, this.timeoutMs) }
        } catch (error) {
          return { node, error: error instanceof Error ? error.message : String(error) }
        }
      }),
    )
    const primaries = probes.filter((p) => p.role && !p.role.recovery)
    this.excluded.clear()
    for (const p of probes) {
      if (p.error !== undefined) this.excluded.set(p.node, p.error)
      else if (p.role?.recovery && p.role.lsn) this.lastReplayed.set(p.node, p.role.lsn)
    }
    if (primaries.length === 0) {
      // None answers as primary (the old one died, the promotion has not happened yet): keep the last one, whose
      // failures say the shard is unavailable; reads still have the replicas.
      return {
        roles: { primary: this.primary, replicas: probes.filter((p) => p.role?.recovery).map((p) => p.node) },
      }
    }
    // The highest timeline wins; between equals, the one that already was primary.
    primaries.sort(
      (a, b) =>
        (b.role!.timeline ?? 0) - (a.role!.timeline ?? 0) ||
        Number(b.node === this.primary) - Number(a.node === this.primary),
    )
    const [chosen, ...others] = primaries
    for (const other of others) {
      this.excluded.set(
        other.node,
        `a second primary (timeline ${other.role!.timeline}; ${chosen!.node.name} is on ${chosen!.role!.timeline}): left out`,
      )
    }
    return {
      roles: { primary: chosen!.node, replicas: probes.filter((p) => p.role?.recovery).map((p) => p.node) },
      probed: chosen!.role!,
    }
  }
}
