import { describe, expect, it } from 'vitest'
import { upperBound95 } from '../../scripts/verify/bound.js'
import {
  DEFAULT_BOUNDS,
  findMonotonicViolations,
  findStaleReads,
  resolveDeletes,
} from '../../scripts/verify/checker.js'
import { History, type Op } from '../../scripts/verify/history.js'
import { seededRandom } from '../../scripts/verify/rng.js'
import { lsnNumber, StreamChecker } from '../../scripts/verify/stream.js'

const op = (o: Partial<Op>): Op => ({
  client: 1,
  instance: 'product-1',
  key: 7,
  kind: 'read',
  invoke: 0,
  ack: 1,
  ok: true,
  ...o,
})

/**
 * A random history as the workload records it (each op at its answer, in ack order): a few clients over a few
 * keys and two instances, writes with rising versions per key, reads that return a version acknowledged at
 * some point (sometimes an old one), and a delete.
 */
function randomHistory(seed: number, n: number): Op[] {
  const random = seededRandom(seed)
  const versions = new Map<number, number>()
  const ops: Op[] = []
  let t = 0
  for (let i = 0; i < n; i++) {
    t += random() * 3
    const key = 1 + Math.floor(random() * 4)
    const client = 1 + Math.floor(random() * 3)
    const instance = random() < 0.5 ? 'product-1' : 'product-2'
    const span = 1 + random() * 8
    const v = versions.get(key) ?? 0
    if (random() < 0.2) {
      versions.set(key, v + 1)
      ops.push(op({ kind: 'write', key, client, instance, version: v + 1, invoke: t, ack: t + span }))
    } else {
      const seen = Math.max(0, v - (random() < 0.1 ? 1 + Math.floor(random() * 2) : 0))
      ops.push(op({ key, client, instance, version: seen, invoke: t, ack: t + span, source: 'l1' }))
    }
  }
  return ops.sort((a, b) => a.ack - b.ack)
}

describe('verify stream checker', () => {
  it('finds the same stale reads and monotonic violations as the whole-history checker', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const ops = randomHistory(seed, 3000)
      const stream = new StreamChecker(DEFAULT_BOUNDS)
      for (const o of ops) stream.add(o)
      const batch = findStaleReads(resolveDeletes(ops))
      expect(batch.stale.length).toBeGreaterThan(10)
      expect(stream.stale.map((s) => [s.read, s.write, s.path])).toEqual(
        batch.stale.map((s) => [s.read, s.write, s.path]),
      )
      expect(stream.counts.qualifying).toBe(batch.qualifying)
      for (const scope of ['instance', 'client-instance', 'client'] as const) {
        const expected = findMonotonicViolations(ops, scope)
        expect(expected.length).toBeGreaterThan(0)
        expect(stream.monotonic[scope].map((m) => m.later).sort((a, b) => a.ack - b.ack)).toEqual(
          expected.map((m) => m.later).sort((a, b) => a.ack - b.ack),
        )
      }
    }
  })

  it('takes a 404 after a delete that was sent, not yet answered, for the deletion', () => {
    const history = new History()
    history.record(op({ kind: 'insert', version: 1, invoke: 0, ack: 5 }))
    history.deleting(7, 10)
    history.record(op({ notFound: true, invoke: 12, ack: 13 }))
    history.record(op({ kind: 'delete', version: 2, invoke: 10, ack: 20 }))
    const back = op({ client: 2, version: 1, invoke: 30, ack: 31 })
    history.record(back)
    // The 404 is not stale (it saw the delete); the product found again is, and goes back on the instance.
    expect(history.stream.stale.map((x) => x.read)).toEqual([back])
    expect(history.stream.monotonic.instance.map((m) => m.later)).toEqual([back])
  })

  it("takes two 404s on either side of the delete's answer for the same state, not a read going back", () => {
    const history = new History()
    history.record(op({ kind: 'insert', version: 1, invoke: 0, ack: 5 }))
    history.deleting(7, 10)
    history.record(op({ notFound: true, invoke: 12, ack: 13 }))
    history.record(op({ kind: 'delete', version: 2, invoke: 10, ack: 20 }))
    history.record(op({ client: 2, notFound: true, invoke: 25, ack: 26 }))
    expect(history.stream.monotonic.instance).toEqual([])
    expect(history.stream.stale).toEqual([])
  })
})

describe('verify C3 rule: stale sets', () => {
  it('flags a cached value beyond its bound that a fill racing the newer write brought', () => {
    const s = new StreamChecker(DEFAULT_BOUNDS)
    const fill = op({ version: 1, invoke: 0, ack: 30, source: 'replica', lsn: '0/10' })
    s.add(op({ kind: 'write', version: 1, invoke: -20, ack: -10, lsn: '0/10' }))
    s.add(
      op({ kind: 'write', client: 2, instance: 'product-2', version: 2, invoke: 5, ack: 20, lsn: '0/20' }),
    )
    s.add(fill) // read the row before the write committed, installed it after: the race
    const cached = op({ client: 3, version: 1, invoke: 1500, ack: 1501, source: 'l2' })
    s.add(cached)
    expect(s.staleSets).toHaveLength(1)
    expect(s.staleSets[0]).toMatchObject({ fill, stale: { read: cached } })
  })

  it('does not flag a stale cached value within the cross-instance bound, or one no racing fill brought', () => {
    const s = new StreamChecker(DEFAULT_BOUNDS)
    s.add(op({ kind: 'write', version: 1, invoke: -20, ack: -10 }))
    s.add(op({ version: 1, invoke: -5, ack: -4, source: 'replica', lsn: '0/10' })) // before the write: no race
    s.add(op({ kind: 'write', client: 2, instance: 'product-2', version: 2, invoke: 5, ack: 20 }))
    s.add(op({ client: 3, version: 1, invoke: 500, ack: 501, source: 'l1' }))
    s.add(op({ client: 3, version: 1, invoke: 1500, ack: 1501, source: 'l1' }))
    expect(s.stale).toHaveLength(2)
    expect(s.staleSets).toEqual([])
  })
})

describe('verify C4 rule: replica-safe fills', () => {
  it('flags a replica fill older than the commit LSN of a write acknowledged before it began', () => {
    const s = new StreamChecker(DEFAULT_BOUNDS)
    const write = op({ kind: 'write', version: 3, invoke: 0, ack: 10, lsn: '1/A0' })
    s.add(write)
    s.add(op({ version: 3, invoke: 11, ack: 12, source: 'replica', lsn: '1/A0' }))
    const behind = op({ version: 3, invoke: 13, ack: 14, source: 'replica', lsn: '1/9F' })
    s.add(behind)
    expect(s.counts.replicaFills).toBe(2)
    expect(s.replicaBehind).toEqual([{ read: behind, write, underFault: false }])
  })

  it('flags a replica fill that carries no LSN, and compares LSNs as positions, not text', () => {
    const s = new StreamChecker(DEFAULT_BOUNDS)
    s.add(op({ kind: 'write', version: 3, invoke: 0, ack: 10, lsn: '0/FFFFFFFF' }))
    const bare = op({ version: 3, invoke: 11, ack: 12, source: 'replica' })
    s.add(bare)
    s.add(op({ version: 3, invoke: 13, ack: 14, source: 'replica', lsn: '1/0' }))
    expect(s.replicaWithoutLsn).toEqual([bare])
    expect(s.replicaBehind).toEqual([])
    expect(lsnNumber('1/0')).toBe(2 ** 32)
  })

  it('reports a fill behind under a fault that loses the L2 fence as under fault', () => {
    const history = new History()
    history.faultStarted(0, 'redis-restart')
    history.record(op({ kind: 'write', version: 3, invoke: 1, ack: 10, lsn: '0/A0' }))
    history.record(op({ version: 2, invoke: 11, ack: 12, source: 'replica', lsn: '0/90' }))
    expect(history.stream.replicaBehind).toMatchObject([{ underFault: true }])
  })
})

describe('verify stale-read bound', () => {
  it('is 3/n with no event and grows with the events seen', () => {
    expect(upperBound95(0, 3_000_000)).toBeCloseTo(1e-6, 7)
    expect(upperBound95(1, 1_000_000)).toBeCloseTo(4.74e-6, 7)
    expect(upperBound95(10, 1_000_000)).toBeCloseTo(17.0e-6, 6)
    expect(upperBound95(0, 0)).toBe(1)
  })
})
