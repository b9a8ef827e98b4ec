import type { BusMemberStats } from '../bus/kit.js'
import type { CircuitState, L2Guard } from './guard.js'

export function newCounters() {
  return {
    l1Hits: 0,
    l1Misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    loads: 0,
    loadErrors: 0,
    graceServed: 0,
    fencedL1: 0,
    fencedL2: 0,
    leaseWaits: 0,
    leaseHandoffs: 0,
    leaseFallbacks: 0,
    serializationErrors: 0,
    busErrors: 0,
    l2InvalidateErrors: 0,
    bypasses: 0,
    bypassMs: 0,
  }
}

export type Counters = ReturnType<typeof newCounters>

/** `cache.stats()`: plain data, safe to `JSON.stringify`. */
export interface CacheStats {
  name: string
  instanceId: string
  l1: { enabled: boolean; size: number; hits: number; misses: number; hitRate: number }
  l2: { hits: number; misses: number; hitRate: number; circuit: CircuitState }
  loads: number
  loadErrors: number
  /** Stale values served because the loader failed (grace). */
  graceServed: number
  /** Fills refused because an invalidation happened while loading (C3), per tier. */
  fencingRejected: { l1: number; l2: number; total: number }
  /** Cross-instance single flight: waits for another instance's load, values handed over, own loads after waiting. */
  lease: { waits: number; handoffs: number; fallbacks: number }
  bus: {
    healthy: boolean
    messagesIn: number
    messagesOut: number
    batchesOut: number
    /** Early copies received (sent by another instance's L2 script, ahead of its sequenced message). */
    earlyIn: number
    gaps: number
    disconnects: number
    lagMs: { p50: number; p99: number; max: number }
    /** Bypasses of L1 for an unhealthy bus, and the total time bypassed. */
    bypasses: number
    bypassMs: number
  }
  errors: {
    l2: number
    l2Timeouts: number
    circuitRejected: number
    circuitOpened: number
    invalidation: number
    serialization: number
    bus: number
  }
}

const rate = (hits: number, misses: number) => (hits + misses === 0 ? 0 : hits / (hits + misses))

export function snapshot(
  c: Counters,
  s: {
    name: string
    instanceId: string
    l1Size: number
    l1Enabled: boolean
    guard: L2Guard
    bus: BusMemberStats | undefined
    bypassMs: number
  },
): CacheStats {
  const bus = s.bus
  return {
    name: s.name,
    instanceId: s.instanceId,
    l1: {
      enabled: s.l1Enabled,
      size: s.l1Size,
      hits: c.l1Hits,
      misses: c.l1Misses,
      hitRate: rate(c.l1Hits, c.l1Misses),
    },
    l2: { hits: c.l2Hits, misses: c.l2Misses, hitRate: rate(c.l2Hits, c.l2Misses), circuit: s.guard.state },
    loads: c.loads,
    loadErrors: c.loadErrors,
    graceServed: c.graceServed,
    fencingRejected: { l1: c.fencedL1, l2: c.fencedL2, total: c.fencedL1 + c.fencedL2 },
    lease: { waits: c.leaseWaits, handoffs: c.leaseHandoffs, fallbacks: c.leaseFallbacks },
    bus: {
      healthy: bus?.healthy ?? true,
      messagesIn: bus?.messagesIn ?? 0,
      messagesOut: bus?.messagesOut ?? 0,
      batchesOut: bus?.batchesOut ?? 0,
      earlyIn: bus?.earlyIn ?? 0,
      gaps: bus?.gaps ?? 0,
      disconnects: bus?.disconnects ?? 0,
      lagMs: { p50: bus?.lagMs.p50 ?? 0, p99: bus?.lagMs.p99 ?? 0, max: bus?.lagMs.max ?? 0 },
      bypasses: c.bypasses,
      bypassMs: s.bypassMs,
    },
    errors: {
      l2: s.guard.counts.errors + s.guard.counts.timeouts,
      l2Timeouts: s.guard.counts.timeouts,
      circuitRejected: s.guard.counts.rejectedOpen,
      circuitOpened: s.guard.counts.opened,
      invalidation: c.l2InvalidateErrors,
      serialization: c.serializationErrors,
      bus: c.busErrors + (bus?.publishErrors ?? 0),
    },
  }
}
