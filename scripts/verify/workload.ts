import type { History, Op, Source } from './history.js'
import { type Call, call, sleep } from './http.js'
import { seededRandom, zipf } from './rng.js'

export interface WorkloadOptions {
  baseUrl: string
  /** Product instance names (`product-1`, ...). */
  productInstances: readonly string[]
  orderInstances: readonly string[]
  clients: number
  /** Seeded products are 1..products. */
  products: number
  members: number
  seed: number
  signal: AbortSignal
  history: History
  /** Called for every acknowledged write or insert (the convergence tracer samples them). */
  onWrite?(op: Op): void
}

interface ProductBody {
  id: number
  version: number
}

/** Live counters for the progress line. */
export interface WorkloadCounters {
  reads: number
  writes: number
  inserts: number
  deletes: number
  orders: number
  errors: number
}

/**
 * Drives the shop until the signal aborts: `clients` product clients (half with a 95:5 read:write mix,
 * half 50:50) over Zipfian keys plus the products they insert, each with a home instance it mostly uses
 * and sometimes another one (cross-instance reads), and one order client placing orders in both modes.
 * Every call is recorded in the history. Pauses between calls keep a 2-core machine usable.
 */
export function runWorkload(options: WorkloadOptions): { done: Promise<void>; counters: WorkloadCounters } {
  const counters: WorkloadCounters = { reads: 0, writes: 0, inserts: 0, deletes: 0, orders: 0, errors: 0 }
  const inserted: number[] = []
  const deleted: number[] = []
  const { history } = options

  const productClient = async (client: number) => {
    const random = seededRandom(options.seed * 1000 + client)
    const hot = zipf(options.products, 1.0, random)
    const writeShare = client % 2 === 0 ? 0.05 : 0.5
    const instances = options.productInstances
    const home = instances[client % instances.length]!
    let lastOk = true
    while (!options.signal.aborted) {
      const instance = random() < 0.7 ? home : instances[Math.floor(random() * instances.length)]!
      const pick = random()
      // Now and then a product someone deleted: it must stay gone (read only).
      const gone = deleted.length > 0 && pick < 0.03
      const key = gone
        ? deleted[Math.floor(random() * deleted.length)]!
        : inserted.length > 0 && pick < 0.08
          ? inserted[Math.floor(random() * inserted.length)]!
          : hot()
      const roll = gone ? 1 : random()
      const headers = { 'x-instance': instance }
      // The op as this client saw it: who answered, when, and the version it carried.
      const opOf = (
        r: Call<unknown>,
        kind: Op['kind'],
        opKey: number,
        ok: boolean,
        version?: number,
      ): Op => ({
        client,
        instance: r.headers?.get('x-concord-instance') ?? instance,
        key: opKey,
        kind,
        invoke: r.invoke,
        ack: r.ack,
        ok,
        version,
      })
      if (roll >= writeShare * 0.02 && roll < writeShare * 0.03 && inserted.length > 0) {
        // Deletes take only products the clients inserted: the seeded ones carry the orders' invariants.
        const victim = inserted.splice(Math.floor(random() * inserted.length), 1)[0]!
        const r = await call<{ id: number; version: number }>(`${options.baseUrl}/products/${victim}`, {
          method: 'DELETE',
          headers,
        })
        const ok = r.status === 200 && r.body !== undefined
        history.record(opOf(r, 'delete', victim, ok, ok ? r.body!.version : undefined))
        // Whatever the answer, it may have committed: reads of it are judged from here on.
        deleted.push(victim)
        lastOk = ok
        if (ok) counters.deletes++
        else counters.errors++
      } else if (roll < writeShare * 0.02) {
        const r = await call<ProductBody>(`${options.baseUrl}/products`, {
          method: 'POST',
          body: { name: `verify item ${client}-${Math.floor(random() * 1e9)}`, price: 5, stock: 50 },
          headers,
        })
        const ok = r.status === 201 && r.body !== undefined
        if (ok) inserted.push(r.body!.id)
        const op = opOf(r, 'insert', ok ? r.body!.id : -1, ok, r.body?.version)
        history.record(op)
        lastOk = ok
        if (ok) {
          counters.inserts++
          options.onWrite?.(op)
        } else counters.errors++
      } else if (roll < writeShare) {
        const price = Math.round(100 + random() * 9900) / 100
        const r = await call<ProductBody>(`${options.baseUrl}/products/${key}`, {
          method: 'PUT',
          body: { price },
          headers,
        })
        const ok = r.status === 200 && r.body !== undefined
        const op = opOf(r, 'write', key, ok, ok ? r.body!.version : undefined)
        history.record(op)
        lastOk = ok
        if (ok) {
          counters.writes++
          options.onWrite?.(op)
        } else counters.errors++
      } else {
        const r = await call<ProductBody>(`${options.baseUrl}/products/${key}`, { headers })
        const ok = r.status === 200 || r.status === 404
        history.record({
          ...opOf(r, 'read', key, ok, r.status === 200 ? r.body?.version : undefined),
          notFound: r.status === 404,
          source: (r.headers?.get('x-concord-source') ?? undefined) as Source | undefined,
        })
        lastOk = ok
        if (ok) counters.reads++
        else counters.errors++
      }
      // A failing instance answers at once; back off so a dead one is not hammered in a tight loop.
      await sleep(lastOk ? 2 : 50)
    }
  }

  const orderClient = async (client: number) => {
    const random = seededRandom(options.seed * 1000 + client)
    const hot = zipf(options.products, 1.0, random)
    let n = 0
    while (!options.signal.aborted) {
      const mode = n++ % 2 === 0 ? 'saga' : 'events'
      const instance = options.orderInstances[n % options.orderInstances.length]!
      const order = {
        memberId: 1 + Math.floor(random() * options.members),
        productId: hot(),
        quantity: 1 + Math.floor(random() * 2),
        points: 5,
      }
      const r = await call<{ id: string; status: string }>(`${options.baseUrl}/orders?mode=${mode}`, {
        method: 'POST',
        body: order,
        headers: { 'x-instance': instance },
        timeoutMs: 15_000,
      })
      const ok = r.status === 201
      history.orders.push({
        client,
        instance,
        mode,
        ...order,
        invoke: r.invoke,
        ack: r.ack,
        ok,
        id: r.body?.id,
        status: r.body?.status,
      })
      if (ok) counters.orders++
      else counters.errors++
      await sleep(100)
    }
  }

  const done = Promise.all([
    ...Array.from({ length: options.clients }, (_, i) => productClient(i + 1)),
    orderClient(options.clients + 1),
  ]).then(() => undefined)
  return { done, counters }
}
