import { createShards, type Shards } from 'concord/db'
import {
  compensateOnce,
  defineSaga,
  once,
  type SagaDefinition,
  SagaStepRejectedError,
  sagaMigrations,
} from 'concord/saga'
import { createPgNode } from '../../src/pg/index.js'

/**
 * The architecture's cross-shard order as a saga, for tests, kill -9 children and the benchmark:
 * stock on the product's shard, points on the member's shard, the order row on the order's shard.
 * Each participant applies its effect once per idempotency key, in its own transaction.
 */

export interface OrderInput {
  orderId: string
  productId: number
  memberId: number
  quantity: number
  points: number
}

/** `label` is `${step}:action` or `${step}:compensate`; `when` is where the fault strikes. */
export type FaultPoint = 'before-commit' | 'after-commit'
export interface Faults {
  hit(label: string, when: FaultPoint): void
}

export const noFaults: Faults = { hit: () => {} }

/** Faults that fire `times` times at a label and point, then stop (`times: Infinity` for always). */
export function faultPlan(
  plan: Record<string, { when: FaultPoint; times: number }>,
): Faults & { clear(): void } {
  const left = new Map(Object.entries(plan).map(([label, p]) => [label, { ...p }]))
  return {
    hit(label, when) {
      const p = left.get(label)
      if (!p || p.when !== when || p.times <= 0) return
      p.times -= 1
      throw new Error(`injected fault at ${label} ${when}`)
    },
    clear: () => left.clear(),
  }
}

/**
 * The faults of a scenario. 'compensate': the pivot commits but reports failure every time, so the
 * saga retries it, then undoes everything (the pivot's own compensation cancels the order).
 */
export function scenarioFaults(scenario: 'happy' | 'compensate'): Faults {
  return scenario === 'compensate'
    ? faultPlan({ 'confirm:action': { when: 'after-commit', times: Number.POSITIVE_INFINITY } })
    : faultPlan({})
}

export const shopMigrations = [
  {
    module: 'saga_test_shop',
    version: 1,
    name: 'products, members, orders',
    sql: `
CREATE TABLE product (id int PRIMARY KEY, stock int NOT NULL CHECK (stock >= 0));
CREATE TABLE member (id int PRIMARY KEY, points int NOT NULL CHECK (points >= 0));
CREATE TABLE orders (id text PRIMARY KEY, product_id int NOT NULL, member_id int NOT NULL,
  quantity int NOT NULL, points int NOT NULL, status text NOT NULL);`,
  },
]

/** Shards on the given databases (one per shard), migrated for sagas and the test shop. */
export async function orderShards(urls: readonly string[], poolSize = 10): Promise<Shards> {
  const shards = createShards({
    shards: urls.map((connectionString) => ({ primary: createPgNode({ connectionString, max: poolSize }) })),
    healthInterval: '1h',
  })
  await shards.migrate([...sagaMigrations, ...shopMigrations])
  return shards
}

export async function seed(shards: Shards, { products, members, stock, points }: Record<string, number>) {
  for (let id = 1; id <= products!; id++) {
    await shards.withTransaction(`product:${id}`, (tx) =>
      tx.query('INSERT INTO product (id, stock) VALUES ($1, $2)', [id, stock]),
    )
  }
  for (let id = 1; id <= members!; id++) {
    await shards.withTransaction(`member:${id}`, (tx) =>
      tx.query('INSERT INTO member (id, points) VALUES ($1, $2)', [id, points]),
    )
  }
}

/** The order saga: reserve stock, use points (both compensatable), confirm the order (the pivot). */
export function orderSaga(
  shards: Shards,
  faults: Faults = noFaults,
  name = 'order',
): SagaDefinition<OrderInput> {
  const onProduct = (id: number) => `product:${id}`
  const onMember = (id: number) => `member:${id}`
  return defineSaga<OrderInput>(name, [
    {
      name: 'stock',
      async action(ctx) {
        const { productId, quantity } = ctx.input
        const { result } = await shards.withTransaction(onProduct(productId), (tx) =>
          once(tx, ctx.idempotencyKey, async () => {
            const r = await tx.query('UPDATE product SET stock = stock - $2 WHERE id = $1 AND stock >= $2', [
              productId,
              quantity,
            ])
            if (r.rowCount === 0) throw new SagaStepRejectedError('out of stock', { productId })
            faults.hit('stock:action', 'before-commit')
            return { reserved: quantity }
          }),
        )
        faults.hit('stock:action', 'after-commit')
        return result
      },
      async compensate(ctx) {
        const { productId, quantity } = ctx.input
        await shards.withTransaction(onProduct(productId), (tx) =>
          compensateOnce(tx, ctx, async () => {
            await tx.query('UPDATE product SET stock = stock + $2 WHERE id = $1', [productId, quantity])
            faults.hit('stock:compensate', 'before-commit')
          }),
        )
        faults.hit('stock:compensate', 'after-commit')
      },
    },
    {
      name: 'points',
      async action(ctx) {
        const { memberId, points } = ctx.input
        await shards.withTransaction(onMember(memberId), (tx) =>
          once(tx, ctx.idempotencyKey, async () => {
            const r = await tx.query(
              'UPDATE member SET points = points - $2 WHERE id = $1 AND points >= $2',
              [memberId, points],
            )
            if (r.rowCount === 0) throw new SagaStepRejectedError('not enough points', { memberId })
            faults.hit('points:action', 'before-commit')
          }),
        )
        faults.hit('points:action', 'after-commit')
        return { used: points }
      },
      async compensate(ctx) {
        const { memberId, points } = ctx.input
        await shards.withTransaction(onMember(memberId), (tx) =>
          compensateOnce(tx, ctx, async () => {
            await tx.query('UPDATE member SET points = points + $2 WHERE id = $1', [memberId, points])
            faults.hit('points:compensate', 'before-commit')
          }),
        )
        faults.hit('points:compensate', 'after-commit')
      },
    },
    {
      name: 'confirm',
      kind: 'pivot',
      async action(ctx) {
        const { orderId, productId, memberId, quantity, points } = ctx.input
        await shards.withTransaction(`order:${orderId}`, (tx) =>
          once(tx, ctx.idempotencyKey, async () => {
            await tx.query(
              `INSERT INTO orders (id, product_id, member_id, quantity, points, status)
               VALUES ($1, $2, $3, $4, $5, 'CONFIRMED')`,
              [orderId, productId, memberId, quantity, points],
            )
            faults.hit('confirm:action', 'before-commit')
          }),
        )
        faults.hit('confirm:action', 'after-commit')
        return { status: 'CONFIRMED' }
      },
      // Runs only if the pivot failed as far as the saga knows: an attempt may still have committed.
      async compensate(ctx) {
        await shards.withTransaction(`order:${ctx.input.orderId}`, (tx) =>
          compensateOnce(tx, ctx, async () => {
            await tx.query("UPDATE orders SET status = 'CANCELLED' WHERE id = $1", [ctx.input.orderId])
            faults.hit('confirm:compensate', 'before-commit')
          }),
        )
        faults.hit('confirm:compensate', 'after-commit')
      },
    },
  ])
}

/** Checks the shop's invariants: stock and points last set = what is left + what CONFIRMED orders took. */
export async function conservation(shards: Shards, { stock, points }: { stock: number; points: number }) {
  const per = await shards.scatter(
    async (q) => {
      const products = await q.query<{ id: number; stock: number }>('SELECT id, stock FROM product')
      const members = await q.query<{ id: number; points: number }>('SELECT id, points FROM member')
      const orders = await q.query<{
        product_id: number
        member_id: number
        quantity: number
        points: number
      }>("SELECT product_id, member_id, quantity, points FROM orders WHERE status = 'CONFIRMED'")
      return { products: products.rows, members: members.rows, orders: orders.rows }
    },
    { primary: true },
  )
  const taken = new Map<string, number>()
  const add = (key: string, n: number) => taken.set(key, (taken.get(key) ?? 0) + n)
  for (const s of per) {
    for (const o of s.orders) {
      add(`p${o.product_id}`, o.quantity)
      add(`m${o.member_id}`, o.points)
    }
  }
  const broken: string[] = []
  for (const s of per) {
    for (const p of s.products) {
      const sum = p.stock + (taken.get(`p${p.id}`) ?? 0)
      if (sum !== stock)
        broken.push(`product ${p.id}: stock ${p.stock} + confirmed ${sum - p.stock} != ${stock}`)
    }
    for (const m of s.members) {
      const sum = m.points + (taken.get(`m${m.id}`) ?? 0)
      if (sum !== points)
        broken.push(`member ${m.id}: points ${m.points} + confirmed ${sum - m.points} != ${points}`)
    }
  }
  return { broken, confirmed: per.reduce((n, s) => n + s.orders.length, 0) }
}
