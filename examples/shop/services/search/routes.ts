import { z } from 'zod'
import { parse } from '../../http.js'
import { answer, type Route } from '../../routes.js'
import { intId, type Product, searchQuery } from '../../schema.js'
import type { SearchService } from './service.js'

const repair = z.strictObject({ product: z.unknown().optional() })

export function searchRoutes(service: SearchService, extra: readonly Route[] = []): Route[] {
  return [
    {
      method: 'GET',
      url: '/internal/search/:id',
      handler: async ({ params }) => answer((await service.row(parse(intId, params.id, 'product id'))) ?? {}),
    },
    {
      // The checker's repair: re-project the row from the source of truth it read (absent: delete it).
      method: 'POST',
      url: '/internal/search/:id/repair',
      handler: async ({ params, body }) => {
        const id = parse(intId, params.id, 'product id')
        const { product } = parse(repair, body, 'repair')
        await service.repair(product as Product | undefined, id)
        return answer({ repaired: true })
      },
    },
    {
      method: 'GET',
      url: '/search',
      handler: async ({ query }) => {
        const { q, limit } = parse(searchQuery, query, 'search query')
        return answer(await service.search(q, limit))
      },
    },
    ...extra,
  ]
}
