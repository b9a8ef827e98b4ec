import pg from 'pg'
import type { History } from './history.js'
import { sleep } from './http.js'

/** The final state checks (C5, C6, C7): conservation of stock and points, terminal sagas, projections. */
export interface Invariants {
  orders: { placed: number; acked: number; confirmed: number; cancelled: number; pending: number }
  /** Orders still PENDING in the database after the settle wait (C6). */
  nonTerminalOrders: number
  /** Sagas not COMPLETED or COMPENSATED (RUNNING, COMPENSATING, NEEDS_ATTENTION) after the settle wait. */
  nonTerminalSagas: number
  sagas: Record<string, number>
  /** Units of stock / points missing vs confirmed orders (effects lost) and taken twice (duplicated). */
  lostEffects: number
  duplicatedEffects: number
  /** Products / members whose balance does not match the confirmed orders. */
  unbalanced: string[]
  /** Orders answered CONFIRMED/CANCELLED whose database row says otherwise, or is missing (lost). */
  ackMismatches: number
  /** Deleted products (gone from the primary) still live in the search projection after the settle wait. */
  searchRevived: number
  /** Products whose search projection is behind the primary after the settle wait (a lost event, C5/C7). */
  projectionBehind: number
  settledAfterMs: number
}

interface Snapshot {
  orders: {
    id: string
    status: string
    member_id: number
    product_id: number
    quantity: number
    points: string
  }[]
  products: { id: number; stock: number; version: number }[]
  members: { id: number; points: string }[]
  sagas: { status: string; n: number }[]
  search: { id: number; version: number; deleted: boolean }[]
}

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql)).rows as T[]
  } finally {
    await client.end()
  }
}

async function snapshot(shardUrls: readonly string[], searchUrl: string): Promise<Snapshot> {
  const perShard = await Promise.all(
    shardUrls.map(async (url) => ({
      orders: await query<Snapshot['orders'][number]>(
        url,
        'SELECT id, status, member_id, product_id, quantity, points::text AS points FROM orders',
      ),
      products: await query<Snapshot['products'][number]>(url, 'SELECT id, stock, version FROM products'),
      members: await query<Snapshot['members'][number]>(
        url,
        'SELECT id, points::text AS points FROM members',
      ),
      sagas: await query<Snapshot['sagas'][number]>(
        url,
        `SELECT status, count(*)::int AS n FROM concord_saga WHERE to_regclass('concord_saga') IS NOT NULL GROUP BY status`,
      ).catch(() => []),
    })),
  )
  return {
    orders: perShard.flatMap((s) => s.orders),
    products: perShard.flatMap((s) => s.products),
    members: perShard.flatMap((s) => s.members),
    sagas: perShard.flatMap((s) => s.sagas),
    search: await query<Snapshot['search'][number]>(
      searchUrl,
      'SELECT id, version, deleted FROM search_products',
    ),
  }
}

/**
 * Waits (up to `settleMs`) for the shop to settle after the load stopped (no PENDING order, no running
 * saga, search caught up), then checks the final state in the databases against the history: for each
 * product, stock = the stock it was created with - quantities of CONFIRMED orders; for each member, points
 * likewise. Initial stocks: seeded products 1,000, products the verify clients inserted 50; members 10,000.
 */
export async function checkInvariants(
  shardUrls: readonly string[],
  searchUrl: string,
  history: History,
  settleMs: number,
): Promise<Invariants> {
  const began = performance.now()
  let snap = await snapshot(shardUrls, searchUrl)
  // Products a client deleted (acknowledged or not) that the primary no longer has: search must hold them as
  // tombstones, never as live rows.
  const deletes = history.ops.filter((o) => o.kind === 'delete')
  const revived = (s: Snapshot) => {
    const live = new Set(s.products.map((p) => p.id))
    const search = new Map(s.search.map((r) => [r.id, r]))
    return deletes.filter((d) => !live.has(d.key) && search.get(d.key)?.deleted === false).map((d) => d.key)
  }
  const settled = (s: Snapshot) => {
    const search = new Map(s.search.map((r) => [r.id, r.version]))
    return (
      s.orders.every((o) => o.status !== 'PENDING') &&
      s.sagas.every((x) => x.status === 'COMPLETED' || x.status === 'COMPENSATED') &&
      s.products.every((p) => (search.get(p.id) ?? 0) >= p.version) &&
      revived(s).length === 0
    )
  }
  while (!settled(snap) && performance.now() - began < settleMs) {
    await sleep(1000)
    snap = await snapshot(shardUrls, searchUrl)
  }

  const confirmed = snap.orders.filter((o) => o.status === 'CONFIRMED')
  const takenStock = new Map<number, number>()
  const takenPoints = new Map<number, number>()
  for (const o of confirmed) {
    takenStock.set(o.product_id, (takenStock.get(o.product_id) ?? 0) + o.quantity)
    takenPoints.set(o.member_id, (takenPoints.get(o.member_id) ?? 0) + Number(o.points))
  }
  let lostEffects = 0
  let duplicatedEffects = 0
  const unbalanced: string[] = []
  const balance = (what: string, expected: number, actual: number) => {
    if (expected === actual) return
    unbalanced.push(`${what}: expected ${expected}, found ${actual}`)
    if (actual > expected) lostEffects += actual - expected
    else duplicatedEffects += expected - actual
  }
  const insertedIds = new Set(history.ops.filter((o) => o.kind === 'insert' && o.ok).map((o) => o.key))
  for (const p of snap.products) {
    // Products created by someone else (a failed-but-committed insert) have an unknown initial stock.
    const initial = p.id <= 100 ? 1000 : insertedIds.has(p.id) ? 50 : undefined
    if (initial !== undefined)
      balance(`product ${p.id} stock`, initial - (takenStock.get(p.id) ?? 0), p.stock)
  }
  for (const m of snap.members) {
    balance(`member ${m.id} points`, 10_000 - (takenPoints.get(m.id) ?? 0), Number(m.points))
  }

  const byId = new Map(snap.orders.map((o) => [o.id, o.status]))
  const acked = history.orders.filter((o) => o.ok && o.id)
  const ackMismatches = acked.filter(
    (o) => (o.status === 'CONFIRMED' || o.status === 'CANCELLED') && byId.get(o.id!) !== o.status,
  ).length
  const search = new Map(snap.search.map((r) => [r.id, r.version]))
  const sagas: Record<string, number> = {}
  for (const s of snap.sagas) sagas[s.status] = (sagas[s.status] ?? 0) + s.n
  return {
    orders: {
      placed: history.orders.length,
      acked: acked.length,
      confirmed: confirmed.length,
      cancelled: snap.orders.filter((o) => o.status === 'CANCELLED').length,
      pending: snap.orders.filter((o) => o.status === 'PENDING').length,
    },
    nonTerminalOrders: snap.orders.filter((o) => o.status === 'PENDING').length,
    nonTerminalSagas: snap.sagas
      .filter((s) => s.status !== 'COMPLETED' && s.status !== 'COMPENSATED')
      .reduce((sum, s) => sum + s.n, 0),
    sagas,
    lostEffects,
    duplicatedEffects,
    unbalanced: unbalanced.slice(0, 20),
    ackMismatches,
    projectionBehind: snap.products.filter((p) => (search.get(p.id) ?? 0) < p.version).length,
    searchRevived: [...new Set(revived(snap))].length,
    settledAfterMs: Math.round(performance.now() - began),
  }
}
