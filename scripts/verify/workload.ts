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
  /**
   * Pacing: undefined pauses 2 ms between calls (a 2-core machine stays usable); 'max' never pauses after a
   * success; a number is a target of product operations/s over all clients.
   */
  rate?: 'max' | number
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
 * Every call is recorded in the history as its answer arrives. Paced by `rate` (see WorkloadOptions); with a
 * rate, three clients in four use the 95:5 mix, so more of the load is reads.
 */
export function runWorkload(options: WorkloadOptions): { done: Promise<void>; counters: WorkloadCounters } {
  const counters: WorkloadCounters = { reads: 0, writes: 0, inserts: 0, deletes: 0, orders: 0, errors: 0 }
  const inserted: number[] = []
  const deleted: number[] = []
  const { history } = options

  const productClient = async (client: number) => {
    const random = seededRandom(options.seed * 1000 + client)
    const hot = zipf(options.products, 1.0, random)
    const writeShare = (options.rate === undefined ? client % 2 === 0 : client % 4 !== 1) ? 0.05 : 0.5
    // A target rate: this client's share of it, as a schedule of start times.
    const gapMs = typeof options.rate === 'number' ? (options.clients * 1000) / options.rate : 0
    let due = performance.now()
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
      const opOf = (r: Call<unknown>, kind: Op['kind'], opKey: number, ok: boolean, version?: number): Op => {
        const lsn = r.headers?.get('x-concord-lsn') ?? undefined
        return {
          client,
          instance: r.headers?.get('x-concord-instance') ?? instance,
          key: opKey,
          kind,
          invoke: r.invoke,
          ack: r.ack,
          ok,
          version,
          ...(lsn && { lsn }),
        }
      }
      if (roll >= writeShare * 0.02 && roll < writeShare * 0.03 && inserted.length > 0) {
        // Deletes take only products the clients inserted: the seeded ones carry the orders' invariants.
        const victim = inserted.splice(Math.floor(random() * inserted.length), 1)[0]!
        history.deleting(victim, performance.now())
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
      if (!lastOk) await sleep(50)
      else if (options.rate === undefined) await sleep(2)
      else if (gapMs > 0) {
        due = Math.max(due + gapMs, performance.now() - 1000)
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
      }
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
