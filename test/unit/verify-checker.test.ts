import { describe, expect, it } from 'vitest'
import {
  convergenceReport,
  findMonotonicViolations,
  findResurrections,
  findRywViolations,
  findStaleReads,
  resolveDeletes,
  shareWithin,
} from '../../scripts/verify/checker.js'
import type { Op } from '../../scripts/verify/history.js'
import { percentile, summarize } from '../../scripts/verify/stats.js'

const write = (client: number, instance: string, version: number, invoke: number, ack: number): Op => ({
  client,
  instance,
  key: 7,
  kind: 'write',
  invoke,
  ack,
  ok: true,
  version,
})
const read = (client: number, instance: string, version: number, invoke: number, ack: number): Op => ({
  client,
  instance,
  key: 7,
  kind: 'read',
  invoke,
  ack,
  ok: true,
  version,
  source: 'l1',
})

describe('verify checker: stale reads', () => {
  it('finds a read that started after a newer write was acknowledged, with its age and path', () => {
    const ops = [write(1, 'product-1', 2, 0, 10), read(2, 'product-2', 1, 15, 16)]
    const { stale, qualifying } = findStaleReads(ops)
    expect(qualifying).toBe(1)
    expect(stale).toHaveLength(1)
    expect(stale[0]).toMatchObject({ ageMs: 5, path: 'cross-instance', ownWrite: false })
  })

  it('does not call a read concurrent with the write stale', () => {
    const ops = [write(1, 'product-1', 2, 0, 10), read(2, 'product-2', 1, 9, 12)]
    expect(findStaleReads(ops).stale).toEqual([])
  })

  it('classifies a stale read on the writing instance as same-instance', () => {
    const ops = [write(1, 'product-1', 2, 0, 10), read(2, 'product-1', 1, 11, 12)]
    expect(findStaleReads(ops).stale[0]?.path).toBe('same-instance')
  })

  it('finds not-found after an acknowledged insert', () => {
    const insert: Op = { ...write(1, 'product-1', 1, 0, 5), kind: 'insert' }
    const missing: Op = { ...read(2, 'product-2', 0, 6, 7), version: undefined, notFound: true }
    expect(findStaleReads([insert, missing]).stale).toHaveLength(1)
  })

  it('measures age from the first newer write, not the latest', () => {
    const ops = [
      write(1, 'product-1', 2, 0, 10),
      write(1, 'product-1', 3, 20, 30),
      read(2, 'product-2', 1, 40, 41),
    ]
    expect(findStaleReads(ops).stale[0]?.ageMs).toBe(30)
  })

  it('ignores failed writes (unknown outcome)', () => {
    const failed = { ...write(1, 'product-1', 2, 0, 10), ok: false }
    expect(findStaleReads([failed, read(2, 'product-2', 1, 15, 16)]).stale).toEqual([])
  })
})

describe('verify checker: read-your-writes', () => {
  it('finds a client reading its own older value on the instance it wrote through', () => {
    const ops = [write(1, 'product-1', 5, 0, 10), read(1, 'product-1', 4, 12, 13)]
    const { stale } = findStaleReads(ops)
    expect(findRywViolations(stale, ops)).toHaveLength(1)
  })

  it('does not count another client or another instance as read-your-writes', () => {
    const ops = [
      write(1, 'product-1', 5, 0, 10),
      read(2, 'product-1', 4, 12, 13),
      read(1, 'product-2', 4, 14, 15),
    ]
    const { stale } = findStaleReads(ops)
    expect(stale).toHaveLength(2)
    expect(findRywViolations(stale, ops)).toEqual([])
  })
})

describe('verify checker: monotonic reads', () => {
  it('finds a later read going back to an older version on one instance', () => {
    const ops = [read(1, 'product-1', 3, 0, 5), read(2, 'product-1', 2, 6, 7)]
    expect(findMonotonicViolations(ops, 'instance')).toHaveLength(1)
    expect(findMonotonicViolations(ops, 'client')).toHaveLength(0)
  })

  it('allows overlapping reads to come back in any order', () => {
    const ops = [read(1, 'product-1', 3, 0, 10), read(2, 'product-1', 2, 5, 12)]
    expect(findMonotonicViolations(ops, 'instance')).toEqual([])
  })

  it('scopes per client across instances separately from per client and instance', () => {
    const ops = [read(1, 'product-1', 3, 0, 5), read(1, 'product-2', 2, 6, 7)]
    expect(findMonotonicViolations(ops, 'client')).toHaveLength(1)
    expect(findMonotonicViolations(ops, 'client-instance')).toHaveLength(0)
    expect(findMonotonicViolations(ops, 'instance')).toHaveLength(0)
  })
})

describe('verify checker: percentiles and convergence', () => {
  it('computes nearest-rank percentiles', () => {
    const values = Array.from({ length: 1000 }, (_, i) => i + 1)
    expect(percentile(values, 50)).toBe(500)
    expect(percentile(values, 99)).toBe(990)
    expect(percentile(values, 99.9)).toBe(999)
    expect(summarize(values)).toEqual({ count: 1000, p50: 500, p99: 990, p999: 999, max: 1000 })
    expect(summarize([])).toEqual({ count: 0 })
    expect(percentile([7], 99)).toBe(7)
  })

  it('shares writes converged within each limit; a path that never converged counts against all', () => {
    expect(shareWithin([50, 500, 5000, undefined], [100, 1000, 10_000])).toEqual([0.25, 0.5, 0.75])
    const report = convergenceReport([
      {
        key: 1,
        version: 2,
        at: 0,
        paths: { 'product-1:l1': 5, l2: 3, 'order-1': 40, search: 80 },
        reason: 'sample',
      },
      {
        key: 1,
        version: 3,
        at: 0,
        paths: { 'product-1:l1': 5, l2: 3, 'order-1': 400, search: undefined },
        reason: 'sample',
      },
    ])
    expect(report.within).toEqual({ '100ms': 0.5, '1s': 0.5, '10s': 0.5 })
    expect(report.never).toBe(1)
    expect(report.perPath.search).toMatchObject({ count: 1, never: 1, max: 80 })
    expect(report.perPath['order-cache']).toMatchObject({ count: 2, max: 400 })
  })
})

describe('verify checker: deletes and resurrections', () => {
  const del = (client: number, instance: string, version: number, invoke: number, ack: number): Op => ({
    ...write(client, instance, version, invoke, ack),
    kind: 'delete',
  })
  const gone = (client: number, instance: string, invoke: number, ack: number): Op => ({
    ...read(client, instance, 0, invoke, ack),
    version: undefined,
    notFound: true,
  })
  const analyse = (ops: Op[]) => {
    const resolved = resolveDeletes(ops)
    const { stale } = findStaleReads(resolved)
    const mono = [
      ...findMonotonicViolations(resolved, 'instance'),
      ...findMonotonicViolations(resolved, 'client-instance'),
    ]
    return { stale, mono, resurrections: findResurrections(stale, mono) }
  }

  it('takes a 404 after a delete for the deletion, not for an old read', () => {
    const { stale, resurrections } = analyse([
      write(1, 'product-1', 3, 0, 5),
      del(1, 'product-1', 4, 10, 20),
      gone(2, 'product-2', 30, 31),
    ])
    expect(stale).toEqual([])
    expect(resurrections).toEqual([])
  })

  it('counts a product found again after a read saw it deleted as a resurrection', () => {
    const back = read(2, 'product-2', 3, 40, 41)
    const { resurrections } = analyse([del(1, 'product-1', 4, 10, 20), gone(2, 'product-2', 30, 31), back])
    expect(resurrections).toEqual([back])
  })

  it('allows a stale read of a deleted product within the cross-instance bound, not beyond it', () => {
    const early = read(2, 'product-2', 3, 500, 501)
    const late = read(3, 'product-2', 3, 1600, 1601)
    const { stale, resurrections } = analyse([del(1, 'product-1', 4, 10, 20), early, late])
    expect(stale.map((s) => s.read)).toEqual([early, late])
    expect(resurrections).toEqual([late])
  })

  it('judges a 404 by a delete whose answer was lost as the newest state', () => {
    const lost: Op = { ...del(1, 'product-1', 4, 10, 20), ok: false, version: undefined }
    const [, resolved] = resolveDeletes([lost, gone(2, 'product-2', 30, 31)])
    expect(resolved!.version).toBe(Number.MAX_SAFE_INTEGER)
  })
})
