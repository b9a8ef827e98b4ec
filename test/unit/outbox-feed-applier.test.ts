import { describe, expect, it } from 'vitest'
import type { EventEnvelope } from '../../src/broker/kit.js'
import { createFeedApplier, type FeedCache, type FeedTransaction } from '../../src/outbox/kit.js'

// The change feed's backend-free half: committed transactions to invalidations (at the batch's last commit LSN),
// dedup against L2's LSN, deterministic event ids, truncation as a clear.
function fakeCache(l2Lsns: Record<string, string> = {}) {
  const calls: { keys: string[]; lsn?: string }[] = []
  const tags: string[] = []
  let cleared = 0
  const cache: FeedCache = {
    async invalidate(keys, opts) {
      calls.push({ keys: [...keys].sort(), ...(opts?.lsn && { lsn: opts.lsn }) })
    },
    async invalidateTag(tag) {
      tags.push(tag)
    },
    async clear() {
      cleared++
    },
    async inspect(key) {
      return l2Lsns[key] ? { l2: { lsn: l2Lsns[key] } } : {}
    },
  }
  return { cache, calls, tags, cleared: () => cleared }
}

const txn = (lsn: string, changes: FeedTransaction['changes'], truncated?: string[]): FeedTransaction => ({
  lsn,
  commitTime: new Date('2026-12-04T00:00:00Z'),
  changes,
  ...(truncated && { truncated }),
})
const tables = {
  'public.products': {
    cache: 'products',
    keys: (row: Record<string, unknown>) => [`product:${row.id}`],
    tags: (row: Record<string, unknown>) => (row.brand ? [`brand:${row.brand}`] : []),
    events: (change: { op: string; row: Record<string, unknown> }) => [
      {
        aggregateType: 'product',
        aggregateId: String(change.row.id),
        aggregateVersion: 1,
        type: change.op,
        payload: {},
      },
    ],
  },
}

describe('feed applier', () => {
  it('invalidates each key once at the batch last commit LSN, old keys of moved rows too, and tags', async () => {
    const c = fakeCache()
    const published: EventEnvelope[] = []
    const applier = createFeedApplier({
      caches: { products: c.cache },
      tables,
      broker: { publish: async (_topic, events) => void published.push(...events) },
      dedup: true,
      source: 'slot',
    })
    const result = await applier.apply([
      txn('0/10', [{ table: 'public.products', op: 'insert', row: { id: 1, brand: 'acme' } }]),
      txn('0/20', [
        { table: 'public.products', op: 'update', row: { id: 2 }, old: { id: 3 } },
        { table: 'public.other', op: 'insert', row: { id: 9 } },
        { table: 'public.products', op: 'delete', row: { id: 1 } },
      ]),
    ])
    expect(c.calls).toEqual([{ keys: ['product:1', 'product:2', 'product:3'], lsn: '0/20' }])
    expect(c.tags).toEqual(['brand:acme'])
    expect(result).toEqual({ invalidated: 3, deduped: 0, events: 3 })
    expect(published.map((e) => e.headers['concord-lsn'])).toEqual(['0/10', '0/20', '0/20'])

    // A replay gives the same event ids: the broker's dedup window drops them.
    const again: EventEnvelope[] = []
    const replay = createFeedApplier({
      caches: { products: fakeCache().cache },
      tables,
      broker: { publish: async (_topic, events) => void again.push(...events) },
      dedup: true,
      source: 'slot',
    })
    await replay.apply([
      txn('0/10', [{ table: 'public.products', op: 'insert', row: { id: 1, brand: 'acme' } }]),
    ])
    expect(again[0]!.id).toBe(published[0]!.id)
  })

  it('skips keys L2 already invalidated at or past their change, not older ones', async () => {
    const c = fakeCache({ 'product:1': '0/30', 'product:2': '0/5' })
    const applier = createFeedApplier({
      caches: { products: c.cache },
      tables: { 'public.products': { cache: 'products', keys: tables['public.products'].keys } },
      dedup: true,
      source: 's',
    })
    const result = await applier.apply([
      txn('0/30', [
        { table: 'public.products', op: 'update', row: { id: 1 } },
        { table: 'public.products', op: 'update', row: { id: 2 } },
      ]),
    ])
    expect(c.calls).toEqual([{ keys: ['product:2'], lsn: '0/30' }])
    expect(result.deduped).toBe(1)
  })

  it('clears a cache whose table was truncated', async () => {
    const c = fakeCache()
    const applier = createFeedApplier({ caches: { products: c.cache }, tables, dedup: false, source: 's' })
    await applier.apply([txn('0/40', [], ['public.products'])])
    expect(c.cleared()).toBe(1)
    expect(c.calls).toEqual([])
  })
})
