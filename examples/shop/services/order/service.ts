import type { Cache } from 'concord/cache'
import type { Queryable, Shards } from 'concord/db'
import type { Outbox } from 'concord/outbox'
import type { RegisteredSaga, SagaEngine } from 'concord/saga'
import { v7 as uuidv7 } from 'uuid'
import type { ServiceClient } from '../../gateway/directory.js'
import { HttpError } from '../../http.js'
import type { Order, OrderStatus, PlaceOrder } from '../../schema.js'
import { placeByEvents } from './choreography.js'
import { loadProductInfo, type ProductInfo } from './product-info.js'
import type { OrderInput } from './saga.js'

export const ORDER_PRODUCT_CACHE = 'order-products'

export type { ProductInfo }

interface Row {
  id: string
  status: OrderStatus
  member_id: number
  product_id: number
  quantity: number
  points: string
  unit_price: string
}

/**
 * One instance of the order service. Prices come from its own cache of product info, which ProductUpdated
 * events invalidate (outbox -> broker -> inbox), so an order's unit price is at most the pipeline's delay old.
 */
export class OrderService {
  constructor(
    private readonly shards: Shards,
    private readonly productInfo: Cache<ProductInfo | undefined>,
    private readonly products: ServiceClient,
    private readonly members: ServiceClient,
    private readonly sagas: SagaEngine,
    private readonly saga: RegisteredSaga<OrderInput>,
    private readonly outbox: Outbox,
    private readonly eventsWaitMs = 10_000,
  ) {}

  /** Places an order as a saga and answers once it ended: CONFIRMED, or CANCELLED with its effects undone. */
  async place(
    body: PlaceOrder,
    mode: 'saga' | 'events',
    idempotencyKey?: string,
  ): Promise<Pick<Order, 'id' | 'status' | 'unitPrice'>> {
    const [product, member] = await Promise.all([
      this.product(body.productId),
      this.members.call('GET', `/members/${body.memberId}`),
    ])
    if (!product) throw new HttpError(404, `product ${body.productId} not found`)
    if (member.status === 404) throw new HttpError(404, `member ${body.memberId} not found`)
    if (member.status !== 200) throw new Error(`member service answered ${member.status}`)

    const input: OrderInput = { orderId: uuidv7(), ...body, unitPrice: product.price }
    if (mode === 'events') return this.placeByEvents(input)
    const outcome = await this.saga.run(input, { idempotencyKey: idempotencyKey ?? input.orderId })
    // A repeated idempotency key returns the first saga: answer with its order, not the new id.
    const first = outcome.created
      ? input
      : ((await this.sagas.get(outcome.id))?.input as OrderInput | undefined)
    const orderId = first?.orderId ?? input.orderId
    const order = await this.get(orderId)
    if (!order) throw new Error(`order ${orderId} missing after its saga`)
    return { id: order.id, status: order.status, unitPrice: order.unitPrice }
  }

  /**
   * The choreographed order: answers once the events decided it, or PENDING after `eventsWaitMs` (the
   * order still ends CONFIRMED or CANCELLED; GET /orders/:id shows when).
   */
  private async placeByEvents(input: OrderInput): Promise<Pick<Order, 'id' | 'status' | 'unitPrice'>> {
    await placeByEvents(this.shards, this.outbox, input)
    const deadline = Date.now() + this.eventsWaitMs
    for (;;) {
      const order = await this.get(input.orderId)
      if (order && (order.status !== 'PENDING' || Date.now() > deadline)) {
        return { id: order.id, status: order.status, unitPrice: order.unitPrice }
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  get(id: string): Promise<Order | undefined> {
    return this.shards.read(id, (q) => selectOrder(q, id), { primary: true })
  }

  /** The product's info from this service's cache; a miss asks the product service (see loadProductInfo). */
  product(id: number): Promise<ProductInfo | undefined> {
    return loadProductInfo(this.productInfo, this.products, id)
  }
}

async function selectOrder(q: Queryable, id: string): Promise<Order | undefined> {
  const { rows } = await q.query<Row>(
    `SELECT id, status, member_id, product_id, quantity, points::text AS points, unit_price::text AS unit_price
     FROM orders WHERE id = $1`,
    [id],
  )
  const row = rows[0]
  return (
    row && {
      id: row.id,
      status: row.status,
      memberId: row.member_id,
      productId: row.product_id,
      quantity: row.quantity,
      points: Number(row.points),
      unitPrice: Number(row.unit_price),
    }
  )
}
