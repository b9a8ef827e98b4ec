import pg from 'pg'
import { call } from './http.js'
import type { Copies } from './probes.js'

/** One cached copy holding something other than the source's version, after the shop settled (C3). */
export interface CopyBehind {
  key: number
  /** `product-1:l1`, `l2`, `order-1:l1`, `order-products:l2`. */
  path: string
  copyVersion: number | 'value'
  /** The primary's version; absent: the product is gone. */
  sourceVersion?: number
}

export interface Quiescence {
  keys: number
  /** Copies looked at (holding an entry or not). */
  looked: number
  /** Copies that held an entry. */
  held: number
  behind: CopyBehind[]
}

interface Probed {
  l1?: { value?: { version?: number } }
  l2?: { value?: { version?: number }; negative?: boolean }
}

/**
 * C3 after quiescence: every cached copy of every product (each product and order instance's L1, and the L2
 * entries) holds the primary's version or nothing; a deleted product is held nowhere (a negative entry is
 * nothing). Run once the load stopped and the shop settled: a copy still behind then was installed after the
 * invalidation that should have fenced it (or that invalidation was lost).
 */
export async function checkQuiescence(
  copies: Copies,
  shardUrls: readonly string[],
  keys: Iterable<number>,
): Promise<Quiescence> {
  const source = new Map<number, number>()
  for (const url of shardUrls) {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      const { rows } = await client.query<{ id: number; version: number }>('SELECT id, version FROM products')
      for (const row of rows) source.set(row.id, row.version)
    } finally {
      await client.end()
    }
  }
  const all = [...new Set([...source.keys(), ...keys])]
  const result: Quiescence = { keys: all.length, looked: 0, held: 0, behind: [] }
  const look = async (instance: string, cache: string, key: number, l2Path: string | undefined) => {
    const r = await call<Probed>(`${copies.urls.get(instance)}/internal/cache/${cache}/product:${key}`, {
      timeoutMs: 5000,
    })
    if (r.status !== 200) throw new Error(`probe of ${instance} ${cache} product ${key} answered ${r.status}`)
    const judge = (path: string, value: { version?: number } | undefined) => {
      result.looked++
      if (value === undefined) return
      result.held++
      const want = source.get(key)
      if (want === undefined || value.version !== want)
        result.behind.push({ key, path, copyVersion: value.version ?? 'value', sourceVersion: want })
    }
    judge(`${instance}:l1`, r.body?.l1?.value)
    if (l2Path) judge(l2Path, r.body?.l2?.negative ? undefined : r.body?.l2?.value)
  }
  // A few keys at a time: the instances answer these beside nothing else now, and the machine is shared.
  for (let i = 0; i < all.length; i += 16) {
    await Promise.all(
      all
        .slice(i, i + 16)
        .flatMap((key) => [
          ...copies.productInstances.map((instance, n) =>
            look(instance, 'products', key, n === 0 ? 'l2' : undefined),
          ),
          ...copies.orderInstances.map((instance, n) =>
            look(instance, 'order-products', key, n === 0 ? 'order-products:l2' : undefined),
          ),
        ]),
    )
  }
  return result
}
