import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { createApp, parse } from '../../http.js'
import { intId, type Product, searchQuery } from '../../schema.js'
import type { SearchService } from './service.js'

const repair = z.strictObject({ product: z.unknown().optional() })

export function searchRoutes(
  service: SearchService,
  extra?: (app: FastifyInstance) => void,
): FastifyInstance {
  const app = createApp()
  app.get('/internal/search/:id', async (request) => {
    const id = parse(intId, (request.params as { id: string }).id, 'product id')
    return (await service.row(id)) ?? {}
  })
  // The checker's repair: re-project the row from the source of truth it read (absent: delete it).
  app.post('/internal/search/:id/repair', async (request) => {
    const id = parse(intId, (request.params as { id: string }).id, 'product id')
    const { product } = parse(repair, request.body, 'repair')
    await service.repair(product as Product | undefined, id)
    return { repaired: true }
  })
  app.get('/search', async (request) => {
    const { q, limit } = parse(searchQuery, request.query, 'search query')
    return service.search(q, limit)
  })
  extra?.(app)
  return app
}
