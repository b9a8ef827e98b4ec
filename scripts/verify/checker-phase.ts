import { Cluster, Redis } from 'ioredis'
import pg from 'pg'
import { call, sleep } from './http.js'
import type { Copies } from './probes.js'

/** One divergence written behind the system's back. */
export interface Injected {
  key: number
  /** The checker's name for the copy: `products:l2` or `search`. */
  copy: string
}

/** What the C8 phase did and saw. */
export interface CheckerPhase {
  injected: Injected[]
  /** Injected divergences the checker's report named, and of those the ones it repaired. */
  found: number
  repaired: number
  /**
   * Divergences it reported that were not injected: the shop was quiet, so each is a real one, which the
   * quiescence probe (C3, C7) judges; here they are only counted.
   */
  extra: number
  /** Injected divergences still there when looked at directly after the checker's run. */
  stillThere: number
  /** The checker's pass: keys sampled, its duration, and the schedule it must fit in. */
  keys: number
  durationMs: number
  scheduleMs: number
  missed: Injected[]
}

interface Report {
  keys: number
  durationMs: number
  inconsistent: number
  repaired: number
  divergences: { copy: string; key: string; repaired: boolean }[]
}

/**
 * C8: after the load, with the shop quiet, writes divergences straight into Redis (a product's L2 entry
 * replaced by another product's) and into the search database (a row's price changed), then runs the shop's
 * checker once through the admin API with a budget covering every product (the shop's own schedule samples
 * 50 keys every 30 s; one full pass stands for the schedule's coverage). Every injected divergence must be in
 * its report, repaired, and gone when looked at directly; the pass must fit in one schedule period.
 */
export async function runCheckerPhase(options: {
  baseUrl: string
  adminToken: string
  copies: Copies
  /** The Redis the shop uses: one server, or a Cluster's seed nodes. */
  redis: { host: string; port: number } | { nodes: { host: string; port: number }[] }
  searchUrl: string
  /** Seeded product ids (never deleted), to pick victims from. */
  products: readonly number[]
  /**
   * Every product id the run may have left live (seeded and inserted): the pass's budget covers them all, since
   * the shop's comparator samples from every live product, not only from the victims' range.
   */
  allProducts: number
  count: number
  random: () => number
}): Promise<CheckerPhase> {
  const { copies, random } = options
  const product = copies.productInstances[0]!
  const pool = [...options.products]
  const take = () => pool.splice(Math.floor(random() * pool.length), 1)[0]!
  const injected: Injected[] = []
  const redis =
    'nodes' in options.redis
      ? new Cluster(options.redis.nodes, { lazyConnect: true })
      : new Redis({ host: options.redis.host, port: options.redis.port, lazyConnect: true })
  const search = new pg.Client({ connectionString: options.searchUrl })
  await redis.connect()
  await search.connect()
  try {
    // L2: another product's entry written under the victim's key. The donor is any product's entry (reads fill
    // them; a cache whose L2 circuit is open after timeouts writes none, so this waits up to 20 s for one).
    const deadline = performance.now() + 20_000
    let donor: { key: string; id: number; blob: Buffer } | undefined
    while (!donor) {
      for (const id of pool.slice(0, 5)) await call(`${options.copies.urls.get(product)}/products/${id}`)
      donor = await anyL2Entry(redis)
      if (!donor && performance.now() > deadline)
        throw new Error('C8: no L2 entry to copy after 20 s of reads')
      if (!donor) await sleep(500)
    }
    for (let i = 0; i < options.count; i++) {
      let victim = take()
      if (victim === donor.id) victim = take()
      const key = donor.key.replace(`{products:product:${donor.id}}`, `{products:product:${victim}}`)
      await redis.set(key, donor.blob, 'PX', 600_000)
      injected.push({ key: victim, copy: 'products:l2' })
    }
    // Search: a row's price changed, its version kept (a value divergence the version does not reveal).
    for (let i = 0; i < options.count; i++) {
      const victim = take()
      const { rowCount } = await search.query(
        'UPDATE search_products SET price = price + 1000 WHERE id = $1 AND NOT deleted',
        [victim],
      )
      if (rowCount !== 1) throw new Error(`C8: search row of product ${victim} not there to change`)
      injected.push({ key: victim, copy: 'search' })
    }
    const scheduleMs = 30_000
    const r = await call<Report>(`${options.baseUrl}/admin/consistency/check`, {
      method: 'POST',
      body: { budget: options.allProducts + 10, repair: true },
      headers: { authorization: `Bearer ${options.adminToken}` },
      timeoutMs: 120_000,
    })
    if (r.status !== 200 || !r.body)
      throw new Error(`C8: the checker run answered ${r.status} ${r.error ?? ''}`)
    const report = r.body
    const named = (i: Injected) =>
      report.divergences.find((d) => d.copy === i.copy && d.key === String(i.key))
    const missed = injected.filter((i) => !named(i))
    const found = injected.length - missed.length
    const repaired = injected.filter((i) => named(i)?.repaired).length
    // Look again directly: the L2 entry must be gone or the product's own, the search row the primary's price.
    let stillThere = 0
    for (const i of injected) {
      if (i.copy === 'products:l2') {
        const probe = await call<{ l2?: { value?: { id?: number } } }>(
          `${copies.urls.get(product)}/internal/cache/products/product:${i.key}`,
        )
        const id = probe.body?.l2?.value?.id
        if (probe.status !== 200 || (id !== undefined && id !== i.key)) stillThere++
      } else {
        const row = await search.query<{ price: string }>(
          'SELECT price::text FROM search_products WHERE id = $1',
          [i.key],
        )
        const truth = await call<{ price: number }>(
          `${copies.urls.get(product)}/internal/products/${i.key}/source`,
        )
        if (Number(row.rows[0]?.price) !== truth.body?.price) stillThere++
      }
    }
    return {
      injected,
      found,
      repaired,
      extra: Math.max(0, report.inconsistent - found),
      stillThere,
      keys: report.keys,
      durationMs: report.durationMs,
      scheduleMs,
      missed,
    }
  } finally {
    redis.disconnect()
    await search.end()
  }
}

/** Some product's L2 value (`…{products:product:<id>}:v`), found by SCAN, with its id and blob. */
async function anyL2Entry(
  redis: Redis | Cluster,
): Promise<{ key: string; id: number; blob: Buffer } | undefined> {
  // On a Cluster each master holds its own keys: scan them one by one.
  for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', '*{products:product:*}:v', 'COUNT', 1000)
      for (const key of keys) {
        const id = Number(/\{products:product:(\d+)\}:v$/.exec(key)?.[1])
        const blob = await redis.getBuffer(key)
        if (id && blob) return { key, id, blob }
      }
      cursor = next
    } while (cursor !== '0')
  }
  return undefined
}
