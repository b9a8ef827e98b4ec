import type { FastifyInstance } from 'fastify'
import { createApp, notFound, parse } from '../../http.js'
import { orderId, orderMode, placeOrder } from '../../schema.js'
import type { OrderService } from './service.js'

export function orderRoutes(service: OrderService, extra?: (app: FastifyInstance) => void): FastifyInstance {
  const app = createApp()
  app.post('/orders', async (request, reply) => {
    const { mode } = parse(orderMode, request.query, 'query')
    const body = parse(placeOrder, request.body, 'order')
    const key = request.headers['idempotency-key']
    const order = await service.place(
      body,
      mode,
      typeof key === 'string' && key.length <= 200 ? key : undefined,
    )
    return reply.status(201).send(order)
  })
  app.get('/orders/:id', async (request) => {
    const id = parse(orderId, (request.params as { id: string }).id, 'order id')
    return (await service.get(id)) ?? Promise.reject(notFound(`order ${id}`))
  })
  extra?.(app)
  return app
}
