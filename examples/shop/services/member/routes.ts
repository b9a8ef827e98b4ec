import { z } from 'zod'
import { notFound, parse } from '../../http.js'
import { answer, type Route } from '../../routes.js'
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

export function memberRoutes(service: MemberService, extra: readonly Route[] = []): Route[] {
  return [
    {
      method: 'GET',
      url: '/members/:id',
      handler: async ({ params }) => {
        const id = parse(intId, params.id, 'member id')
        const member = await service.get(id)
        if (!member) throw notFound(`member ${id}`)
        return answer(member)
      },
    },
    {
      method: 'POST',
      url: '/internal/points/use',
      handler: async ({ body }) => answer(await service.usePoints(parse(use, body, 'points use'))),
    },
    {
      method: 'POST',
      url: '/internal/points/refund',
      handler: async ({ body }) => answer(await service.refundPoints(parse(refund, body, 'refund'))),
    },
    ...extra,
  ]
}
