import type { Cache } from 'concord/cache'
import type { Queryable, Shards, Tx } from 'concord/db'
import type { Outbox } from 'concord/outbox'
import { compensateOnce, once, SagaStepRejectedError } from 'concord/saga'
import type { CreateProduct, Product, UpdateProduct } from '../../schema.js'

export const PRODUCT_CACHE = 'products'
export const productKey = (id: number) => `product:${id}`

interface Row {
  id: number
  name: string
  price: string
  stock: number
  version: number
}
const columns = 'id, name, price::text AS price, stock, version'
const toProduct = (row: Row): Product => ({ ...row, price: Number(row.price) })

/** How a read was served, for the verify tool and the tracer: a cache tier, or the node a fill read. */
export type ProductSource = 'l1' | 'l2' | 'replica' | 'primary'

/**
 * One instance of the product service. Reads go through the fenced multi-level cache, whose fills read a
 * replica that has replayed the last invalidation's LSN (C4). Writes commit the row, a ProductUpdated event
 * and a durable invalidation record in one transaction (C5, C2's second layer), then invalidate at once (C1).
 */
export class ProductService {
  constructor(
    private readonly shards: Shards,
    private readonly cache: Cache<Product | undefined>,
    private readonly outbox: Outbox,
    /** Armed by the verify tool through `/internal/faults`; never set in normal use. */
    readonly faults: { killAfterCommit: boolean } = { killAfterCommit: false },
  ) {}

  async get(id: number): Promise<Product | undefined> {
    return (await this.getWithSource(id)).product
  }

  /**
   * The product and where it came from: `l1`, `l2`, or the node a fill read (`replica` or `primary`). A
   * missing product loads as undefined, which the cache does not keep: a later create is seen at once. A
   * replica fill also gives `lsn`, the replica's replay position taken before the row was read: the row is
   * at least that recent (the verify tool checks it against acknowledged writes, C4).
   */
  async getWithSource(
    id: number,
  ): Promise<{ product: Product | undefined; source: ProductSource; lsn?: string }> {
    const key = productKey(id)
    // A fresh L1 entry now is an L1 hit (an invalidation landing in between makes this an L2 read mislabelled).
    let source: ProductSource = this.cache.hasLocal(key) ? 'l1' : 'l2'
    let lsn: string | undefined
    const product = await this.cache.getOrLoad(key, async (ctx) => {
      let replayed: string | null = null
      const { result, route } = await this.shards.readWithRoute(
        id,
        async (q) => {
          // Null on a primary; on a replica a lower bound of what the next statement sees (replay only advances).
          const { rows } = await q.query<{ lsn: string | null }>(
            'SELECT pg_last_wal_replay_lsn()::text AS lsn',
          )
          replayed = rows[0]?.lsn ?? null
          return selectProduct(q, id)
        },
        { minLsn: ctx.minLsn },
      )
      source = route.node
      lsn = route.node === 'replica' ? (replayed ?? undefined) : undefined
      return result
    })
    return { product, source, ...(lsn !== undefined && { lsn }) }
  }

  /** `commit.lsn` gets the commit LSN (the product routes answer it as `x-concord-lsn`). */
  async create(body: CreateProduct, commit?: { lsn?: string }): Promise<Product> {
    // Ids come from one sequence on shard 0, so they are unique across shards.
    const { result: next } = await this.shards.onShard(0, (tx) =>
      tx.query<{ id: number }>("SELECT nextval('product_ids')::int AS id"),
    )
    const id = next.rows[0]!.id
    const created = await this.write(
      id,
      async (tx) => {
        const { rows } = await tx.query<Row>(
          `INSERT INTO products (id, name, price, stock) VALUES ($1, $2, $3, $4) RETURNING ${columns}`,
          [id, body.name, body.price, body.stock],
        )
        return toProduct(rows[0]!)
      },
      'ProductCreated',
      commit,
    )
    return created!
  }

  async update(id: number, body: UpdateProduct, commit?: { lsn?: string }): Promise<Product | undefined> {
    return this.write(
      id,
      async (tx) => {
        const { rows } = await tx.query<Row>(
          `UPDATE products SET name = COALESCE($2, name), price = COALESCE($3, price),
           stock = COALESCE($4, stock), version = version + 1
         WHERE id = $1 RETURNING ${columns}`,
          [id, body.name ?? null, body.price ?? null, body.stock ?? null],
        )
        return rows[0] && toProduct(rows[0])
      },
      'ProductUpdated',
      commit,
    )
  }

  /**
   * Deletes the product. Its ProductDeleted event carries the last state at the next version: a tombstone, so
   * a projection that applied it ignores the older events still on their way (no resurrection, C7).
   */
  async delete(id: number, commit?: { lsn?: string }): Promise<Product | undefined> {
    return this.write(
      id,
      async (tx) => {
        const { rows } = await tx.query<Row>(`DELETE FROM products WHERE id = $1 RETURNING ${columns}`, [id])
        return rows[0] && { ...toProduct(rows[0]), version: rows[0].version + 1 }
      },
      'ProductDeleted',
      commit,
    )
  }

  /** Saga participant: takes `quantity` from stock once per idempotency key; rejects when there is too little. */
  async reserveStock(input: { productId: number; quantity: number; key: string }): Promise<Product> {
    const { result } = await this.shards.withTransaction(input.productId, (tx) =>
      once(tx, input.key, async () => {
        const reserved = await this.reserveIn(tx, input.productId, input.quantity)
        if (!reserved.ok) throw new SagaStepRejectedError(reserved.reason, { productId: input.productId })
        return reserved.product
      }),
    )
    return result
  }

  /** Saga compensation: gives the stock back, once, and only if the reservation took effect. */
  async releaseStock(input: {
    productId: number
    quantity: number
    actionKey: string
    compensationKey: string
  }) {
    const { result: released } = await this.shards.withTransaction(input.productId, (tx) =>
      compensateOnce(tx, input, () => this.releaseIn(tx, input.productId, input.quantity)),
    )
    return { released }
  }

  /** Takes stock in the caller's transaction (a saga step's or an event consumer's), with its event. */
  async reserveIn(
    tx: Tx,
    productId: number,
    quantity: number,
  ): Promise<{ ok: true; product: Product } | { ok: false; reason: string }> {
    const { rows } = await tx.query<Row>(
      `UPDATE products SET stock = stock - $2, version = version + 1
       WHERE id = $1 AND stock >= $2 RETURNING ${columns}`,
      [productId, quantity],
    )
    if (!rows[0]) {
      const exists = await selectProduct(tx, productId)
      return {
        ok: false,
        reason: exists ? `only ${exists.stock} in stock` : `product ${productId} not found`,
      }
    }
    const product = toProduct(rows[0])
    await this.recordChange(tx, product, 'ProductUpdated')
    return { ok: true, product }
  }

  /** Gives stock back in the caller's transaction, with its event. */
  async releaseIn(tx: Tx, productId: number, quantity: number): Promise<void> {
    const { rows } = await tx.query<Row>(
      `UPDATE products SET stock = stock + $2, version = version + 1 WHERE id = $1 RETURNING ${columns}`,
      [productId, quantity],
    )
    if (rows[0]) await this.recordChange(tx, toProduct(rows[0]), 'ProductUpdated')
  }

  /** Reads the row on the primary, bypassing every cache (the checker's source of truth). */
  source(id: number): Promise<Product | undefined> {
    return this.shards.read(id, (q) => selectProduct(q, id), { primary: true })
  }

  /** The write path: the change, then its event and durable invalidation, in one transaction. */
  private async write(
    id: number,
    change: (tx: Tx) => Promise<Product | undefined>,
    type: ProductEvent = 'ProductUpdated',
    commit?: { lsn?: string },
  ): Promise<Product | undefined> {
    const { result, lsn } = await this.shards.withTransaction(id, async (tx) => {
      const product = await change(tx)
      if (product) await this.recordChange(tx, product, type)
      return product
    })
    if (commit) commit.lsn = lsn
    return result
  }

  /**
   * Every change of a product row goes through here: the ProductUpdated event and a durable invalidation
   * record join the transaction (C5, and C2's second layer); after the commit, never before, this instance
   * invalidates at once with the commit LSN (C1, C4). `withTransaction` resolves after that invalidation.
   */
  private async recordChange(tx: Tx, product: Product, type: ProductEvent): Promise<void> {
    await this.outbox.add(tx, productEvent(product, type))
    await this.outbox.addInvalidation(tx, { cache: PRODUCT_CACHE, keys: [productKey(product.id)] })
    tx.afterCommit(({ lsn }) => {
      // Fault injection (verify): die between the commit and the invalidation; the relay must heal it.
      if (this.faults.killAfterCommit) process.kill(process.pid, 'SIGKILL')
      return this.cache.invalidate(productKey(product.id), { lsn })
    })
  }
}

export type ProductEvent = 'ProductCreated' | 'ProductUpdated' | 'ProductDeleted'

/** A product event carries the whole row and its version, so a consumer never needs an older one (C7). */
const productEvent = (product: Product, type: ProductEvent) => ({
  aggregateType: 'product',
  aggregateId: String(product.id),
  aggregateVersion: product.version,
  type,
  payload: product,
})

async function selectProduct(q: Queryable, id: number): Promise<Product | undefined> {
  const { rows } = await q.query<Row>(`SELECT ${columns} FROM products WHERE id = $1`, [id])
  return rows[0] && toProduct(rows[0])
}

/**
 * Seeds products 1..count (stock 1,000 each) where missing, with their ProductCreated events so the other
 * services' copies start from them too, and moves the id sequence past them.
 */
export async function seedProducts(shards: Shards, outbox: Outbox, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: shards.count }, (_, shard) =>
      shards.onShard(shard, async (tx) => {
        const ids = Array.from({ length: count }, (_, i) => i + 1).filter(
          (id) => shards.shardFor(id) === shard,
        )
        const { rows } = await tx.query<Row>(
          `INSERT INTO products (id, name, price, stock)
           SELECT i, 'product ' || i, 10 + (i % 90), 1000 FROM unnest($1::int[]) AS i
           ON CONFLICT (id) DO NOTHING RETURNING ${columns}`,
          [ids],
        )
        if (rows.length === 0) return
        await outbox.add(
          tx,
          rows.map((row) => productEvent(toProduct(row), 'ProductCreated')),
        )
      }),
    ),
  )
  await shards.onShard(0, (tx) => tx.query(`SELECT setval('product_ids', GREATEST($1::int, 1))`, [count]))
}
