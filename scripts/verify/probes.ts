import type { Convergence, History } from './history.js'
import { call, sleep } from './http.js'

/** Where the copies of a product live: each instance's base URL (internal routes). */
export interface Copies {
  urls: ReadonlyMap<string, string>
  productInstances: readonly string[]
  orderInstances: readonly string[]
  searchInstances: readonly string[]
}

type Versioned = { version?: number } | undefined
interface CacheProbe {
  l1?: { value?: Versioned }
  l2?: { value?: Versioned }
}

const atLeast = (value: Versioned, version: number) => value === undefined || (value.version ?? 0) >= version

/** What one look saw of one copy: converged or not, and when the answer came (verify clock). */
export interface Look {
  ok: boolean
  at: number
}

/**
 * One look at every copy of product `key`: is each at `version` or newer? Paths: `product-N:l1` (that
 * instance's L1), `l2` (the shared Redis entry), `order-N` (the order service's product info, L1 and L2),
 * `search` (the projection row). An absent cache entry counts as converged: the next read loads it fresh.
 * An unreachable instance serves nothing, so its L1 counts as converged too (it restarts empty). Each
 * path is timed by its own probe's answer, so one slow instance does not delay the others' times.
 */
export async function lookAtCopies(copies: Copies, key: number, version: number): Promise<Map<string, Look>> {
  const seen = new Map<string, Look>()
  const probe = async (instance: string, cache: string) =>
    call<CacheProbe>(`${copies.urls.get(instance)}/internal/cache/${cache}/product:${key}`, {
      timeoutMs: 2000,
    })
  await Promise.all([
    ...copies.productInstances.map(async (instance) => {
      const r = await probe(instance, 'products')
      seen.set(`${instance}:l1`, { ok: r.status !== 200 || atLeast(r.body?.l1?.value, version), at: r.ack })
      if (r.status === 200) {
        // L2 is shared: converged once any instance sees it so (they read the same Redis entry).
        const ok = atLeast(r.body?.l2?.value, version)
        const before = seen.get('l2')
        if (!before || (!before.ok && ok) || (before.ok && ok && r.ack < before.at))
          seen.set('l2', { ok, at: r.ack })
      }
    }),
    ...copies.orderInstances.map(async (instance) => {
      const r = await probe(instance, 'order-products')
      const ok =
        r.status !== 200 || (atLeast(r.body?.l1?.value, version) && atLeast(r.body?.l2?.value, version))
      seen.set(instance, { ok, at: r.ack })
    }),
    (async () => {
      for (const instance of copies.searchInstances) {
        const r = await call<Versioned>(`${copies.urls.get(instance)}/internal/search/${key}`, {
          timeoutMs: 2000,
        })
        if (r.status !== 200) continue
        seen.set('search', { ok: (r.body?.version ?? 0) >= version, at: r.ack })
        return
      }
      seen.set('search', { ok: false, at: performance.now() })
    })(),
  ])
  if (!seen.has('l2')) seen.set('l2', { ok: false, at: performance.now() })
  return seen
}

/** Poll gaps: fine at first (0.1 s resolution), coarser later so slow copies cost little. */
const gapAfter = (elapsed: number) => (elapsed < 300 ? 15 : elapsed < 2000 ? 50 : 200)

/**
 * Polls every copy of `key` until each shows `version` or newer, or `deadlineMs` after `at` passed.
 * Returns, per path, ms after `at` when it was first seen converged (absent = not within the deadline), or
 * undefined when `deleted()` says the product was deleted meanwhile (it will never show a version again; the
 * resurrection checks judge it instead).
 */
export async function traceConvergence(
  copies: Copies,
  key: number,
  version: number,
  at: number,
  deadlineMs: number,
  deleted: () => boolean = () => false,
): Promise<Record<string, number | undefined> | undefined> {
  const result: Record<string, number | undefined> = {}
  const pending = new Set<string>()
  for (;;) {
    if (deleted()) return undefined
    const seen = await lookAtCopies(copies, key, version)
    const now = performance.now()
    for (const [path, look] of seen) {
      if (!(path in result)) {
        result[path] = undefined
        pending.add(path)
      }
      if (look.ok && pending.has(path)) {
        result[path] = Math.max(0, look.at - at)
        pending.delete(path)
      }
    }
    if (pending.size === 0 || now - at > deadlineMs) return result
    await sleep(gapAfter(now - at))
  }
}

/**
 * Samples acknowledged writes and traces each one's convergence, a few at a time: at most `maxActive`
 * traces run at once and a write is taken with probability `share` when a slot is free.
 */
export function convergenceSampler(
  copies: Copies,
  history: History,
  options: { maxActive: number; share: number; deadlineMs: number; random: () => number },
) {
  let active = 0
  const running = new Set<Promise<void>>()
  const trace = (key: number, version: number, at: number, reason: Convergence['reason']) => {
    active++
    const p = traceConvergence(copies, key, version, at, options.deadlineMs, () => history.deleted.has(key))
      .then((paths) => {
        if (paths) history.convergence.push({ key, version, at, paths, reason })
      })
      .finally(() => {
        active--
        running.delete(p)
      })
    running.add(p)
    return p
  }
  return {
    offer(key: number, version: number, at: number) {
      if (active < options.maxActive && options.random() < options.share)
        void trace(key, version, at, 'sample')
    },
    /** A trace the caller needs whatever the sample (a fault's own write). */
    trace,
    /** Waits for the traces under way (each ends by its deadline). */
    async drain() {
      await Promise.all(running)
    },
  }
}
