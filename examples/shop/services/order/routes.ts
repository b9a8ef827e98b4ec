import { notFound, parse } from '../../http.js'
import { answer, type Route } from '../../routes.js'
import { orderId, orderMode, placeOrder } from '../../schema.js'
import type { OrderService } from './service.js'

export function orderRoutes(service: OrderService, extra: readonly Route[] = []): Route[] {
  return [
    {
      method: 'POST',
      url: '/orders',
      handler: async ({ query, body, headers }) => {
        const { mode } = parse(orderMode, query, 'query')
        const order = parse(placeOrder, body, 'order')
        const key = headers['idempotency-key']
        const placed = await service.place(
          order,
          mode,
          typeof key === 'string' && key.length <= 200 ? key : undefined,
        )
        return answer(placed, 201)
      },
    },
    {
      method: 'GET',
      url: '/orders/:id',
      handler: async ({ params }) => {
        const id = parse(orderId, params.id, 'order id')
        const order = await service.get(id)
        if (!order) throw notFound(`order ${id}`)
        return answer(order)
      },
    },
    ...extra,
  ]
}
