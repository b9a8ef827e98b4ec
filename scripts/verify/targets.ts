import type { VerifyResult } from './analyze.js'

/** One of the targets: what it asks, what this run measured, and whether it was met. */
export interface Target {
  target: string
  measured: string
  /** undefined: not measurable in this run (e.g. too few reads, or a fault run for a fault-free target). */
  met?: boolean
}

/**
 * The targets to report (README figures). They do not decide the exit status, the violations do; a target
 * that needs more data than the run gathered (3M qualifying reads) says so instead of claiming success.
 */
export function evaluateTargets(r: Omit<VerifyResult, 'targets'>): Target[] {
  const faultFree = r.run.faults.length === 0
  const cross = r.stale.agePerPath['cross-instance']
  const inv = r.invariants
  const targets: Target[] = [
    {
      target: '0 read-your-writes, monotonic-read, resurrection violations',
      measured:
        `${r.ryw} RYW, ${r.monotonic.instance + r.monotonic.clientInstance} monotonic, ` +
        (r.counts.deletes > 0
          ? `${r.resurrections} resurrections (${r.counts.deletes} deletes)`
          : 'resurrection n/a (no deletes)'),
      met: r.ryw === 0 && r.monotonic.instance + r.monotonic.clientInstance === 0 && r.resurrections === 0,
    },
    {
      target: 'no faults: stale-read rate <= 1e-6 over >= 3M qualifying reads',
      measured: `${r.stale.beyondBoundFaultFree} / ${r.counts.qualifyingFaultFree} (${r.stale.rateFaultFree.toExponential(1)}, 95% upper bound ${r.stale.rateUpper95.toExponential(1)})`,
      met: faultFree && r.counts.qualifyingFaultFree >= 3_000_000 ? r.stale.rateUpper95 <= 1e-6 : undefined,
    },
    {
      target: 'no faults: staleness p99 <= 50 ms, max <= 1 s',
      measured: cross?.count
        ? `p99 ${cross.p99?.toFixed(0)} ms, max ${cross.max?.toFixed(0)} ms`
        : 'no stale read',
      met: faultFree ? (cross?.p99 ?? 0) <= 50 && (cross?.max ?? 0) <= 1000 : undefined,
    },
    {
      target: '>= 99.999% of writes converged within 1 s, 100% within 10 s',
      measured: `${(r.convergence.within['1s'] * 100).toFixed(3)}% / ${(r.convergence.within['10s'] * 100).toFixed(3)}% of ${r.convergence.writes} probed`,
      met: r.convergence.writes
        ? r.convergence.within['1s'] >= 0.99999 && r.convergence.within['10s'] === 1
        : undefined,
    },
    {
      target: 'after every heal: convergence p99 <= 2 s, max <= 10 s',
      measured: r.heals.count
        ? `p99 ${r.heals.p99?.toFixed(0)} ms, max ${r.heals.max?.toFixed(0)} ms`
        : 'no heal',
      met: r.heals.heals
        ? r.heals.never === 0 && (r.heals.p99 ?? 0) <= 2000 && (r.heals.max ?? 0) <= 10_000
        : undefined,
    },
  ]
  if (inv) {
    targets.push({
      target: '0 lost events, 0 double effects, every saga terminal',
      measured: `lost ${inv.lostEffects + inv.ackMismatches + inv.projectionBehind}, double ${inv.duplicatedEffects}, non-terminal ${inv.nonTerminalOrders + inv.nonTerminalSagas}`,
      met:
        inv.lostEffects + inv.ackMismatches + inv.projectionBehind + inv.duplicatedEffects === 0 &&
        inv.nonTerminalOrders + inv.nonTerminalSagas === 0,
    })
  }
  return targets
}
