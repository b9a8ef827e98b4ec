import { withCommitLsn } from 'concord/db'
import pg from 'pg'
import type { History } from './history.js'
import { call } from './http.js'
import type { System } from './launch.js'
import type { convergenceSampler } from './probes.js'

/** What a fault returns to the scheduler (the shape of faults.ts's injections). */
interface Injection {
  note: string
  heal(): Promise<void>
}

/** Products written: a few. */
const KEYS = 3

/**
 * Writes made outside the application: for a few products, each first read through every product instance (so
 * every L1 and L2 holds it), a plain-SQL price change on its shard primary that bumps the version the way the
 * shop does. No invalidation, no outbox record, no event: only the WAL change feed (real mode, product-1) tells
 * the copies. Each write goes into the history (reads after it are judged against it) and is traced until every
 * copy (each instance's L1, L2, the order service's cache, search) shows its version.
 */
export function foreignWrite(
  system: System,
  history: History,
  sampler: ReturnType<typeof convergenceSampler>,
  productInstances: readonly string[],
  random: () => number,
): () => Promise<Injection> {
  return async () => {
    const clients = await Promise.all(
      system.shardUrls.map(async (url) => {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        return client
      }),
    )
    // From the seeded products' upper half: the load's keys are Zipf-distributed, so these are rarely written
    // by it, and a load write (which invalidates through the shop) seldom heals them in the feed's place.
    const seeded = await Promise.all(
      clients.map(async (client) => {
        const { rows } = await client.query<{ max: number }>(
          "SELECT coalesce(max(id), 0)::int AS max FROM products WHERE name LIKE 'product %'",
        )
        return rows[0]!.max
      }),
    )
    const last = Math.max(...seeded)
    const first = Math.floor(last / 2) + 1
    const keys = new Set<number>()
    while (keys.size < Math.min(KEYS, last - first + 1))
      keys.add(first + Math.floor(random() * (last - first + 1)))
    const written: { key: number; version: number }[] = []
    const traces: Promise<void>[] = []
    try {
      for (const key of keys) {
        for (const instance of productInstances)
          await call(`${system.shop.baseUrl}/products/${key}`, { headers: { 'x-instance': instance } })
        const price = Math.round(100 + random() * 9900) / 100
        const invoke = performance.now()
        // The row lives on one shard: the UPDATE runs on each primary and changes it on that one only.
        const outcomes = await Promise.all(
          clients.map((client) =>
            withCommitLsn(client, async (tx) => {
              const { rows } = await tx.query<{ version: number }>(
                'UPDATE products SET price = $2, version = version + 1 WHERE id = $1 RETURNING version',
                [key, price],
              )
              return rows[0]?.version
            }),
          ),
        )
        const ack = performance.now()
        const hit = outcomes.find((o) => o.result !== undefined)
        if (!hit) continue // deleted meanwhile (only inserted products are deleted: not these)
        const version = hit.result!
        history.record({
          client: -1,
          instance: 'plain-sql',
          key,
          kind: 'write',
          invoke,
          ack,
          ok: true,
          version,
          lsn: hit.lsn,
        })
        traces.push(sampler.trace(key, version, ack, 'foreign-write'))
        written.push({ key, version })
      }
    } finally {
      await Promise.all(clients.map((client) => client.end().catch(() => undefined)))
    }
    const injection: Injection = {
      note: `plain-SQL price UPDATE on the shard primary of products ${written.map((w) => `${w.key}@v${w.version}`).join(', ')} (outside the shop)`,
      // Nothing to undo: the heal waits for the traces (each ends by its deadline) to say how long they took.
      heal: async () => {
        await Promise.all(traces)
        const worst = new Map<string, number | undefined>()
        for (const c of history.convergence) {
          if (
            c.reason !== 'foreign-write' ||
            !written.some((w) => w.key === c.key && w.version === c.version)
          )
            continue
          for (const [path, ms] of Object.entries(c.paths)) {
            const family = path.endsWith(':l1') ? 'L1' : path.startsWith('order') ? 'order cache' : path
            const before = worst.has(family) ? worst.get(family) : 0
            worst.set(family, ms === undefined || before === undefined ? undefined : Math.max(before, ms))
          }
        }
        const shown = [...worst].map(
          ([family, ms]) => `${family} ${ms === undefined ? 'never' : `${Math.round(ms)} ms`}`,
        )
        injection.note += `; slowest copy per path: ${shown.join(', ')}`
      },
    }
    return injection
  }
}
