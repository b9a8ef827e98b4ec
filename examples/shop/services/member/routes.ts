import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { createApp, notFound, parse } from '../../http.js'
import { intId } from '../../schema.js'
import type { MemberService } from './service.js'

const use = z.strictObject({
  memberId: intId,
  points: z.number().int().nonnegative(),
  key: z.string().min(1),
})
const refund = z.strictObject({
  memberId: intId,
  points: z.number().int().nonnegative(),
  actionKey: z.string().min(1),
  compensationKey: z.string().min(1),
})

export function memberRoutes(
  service: MemberService,
  extra?: (app: FastifyInstance) => void,
): FastifyInstance {
  const app = createApp()
  app.get('/members/:id', async (request) => {
    const id = parse(intId, (request.params as { id: string }).id, 'member id')
    return (await service.get(id)) ?? Promise.reject(notFound(`member ${id}`))
  })
  app.post('/internal/points/use', async (request) =>
    service.usePoints(parse(use, request.body, 'points use')),
  )
  app.post('/internal/points/refund', async (request) =>
    service.refundPoints(parse(refund, request.body, 'refund')),
  )
  extra?.(app)
  return app
}
