import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { createApp, notFound, parse } from '../../http.js'
import { createProduct, intId, updateProduct } from '../../schema.js'
import type { ProductService } from './service.js'

const reserve = z.strictObject({
  productId: intId,
  quantity: z.number().int().positive(),
  key: z.string().min(1),
})
const release = z.strictObject({
  productId: intId,
  quantity: z.number().int().positive(),
  actionKey: z.string().min(1),
  compensationKey: z.string().min(1),
})

const faults = z.strictObject({ killAfterCommit: z.boolean() })

/** A product instance's HTTP face: the public product API, and the internal calls of sagas and probes. */
export function productRoutes(
  service: ProductService,
  extra?: (app: FastifyInstance) => void,
): FastifyInstance {
  const app = createApp()
  app.get('/products/:id', async (request, reply) => {
    const id = parse(intId, (request.params as { id: string }).id, 'product id')
    const { product, source, lsn } = await service.getWithSource(id)
    reply.header('x-concord-source', source)
    if (lsn) reply.header('x-concord-lsn', lsn)
    return product ?? Promise.reject(notFound(`product ${id}`))
  })
  app.post('/products', async (request, reply) => {
    const commit: { lsn?: string } = {}
    const product = await service.create(parse(createProduct, request.body, 'product'), commit)
    if (commit.lsn) reply.header('x-concord-lsn', commit.lsn)
    return reply.status(201).send(product)
  })
  app.put('/products/:id', async (request, reply) => {
    const id = parse(intId, (request.params as { id: string }).id, 'product id')
    const commit: { lsn?: string } = {}
    const product = await service.update(id, parse(updateProduct, request.body, 'product update'), commit)
    if (commit.lsn) reply.header('x-concord-lsn', commit.lsn)
    return product ?? Promise.reject(notFound(`product ${id}`))
  })
  app.delete('/products/:id', async (request, reply) => {
    const id = parse(intId, (request.params as { id: string }).id, 'product id')
    const commit: { lsn?: string } = {}
    const deleted = await service.delete(id, commit)
    if (commit.lsn) reply.header('x-concord-lsn', commit.lsn)
    return deleted
      ? { id, version: deleted.version, deleted: true }
      : Promise.reject(notFound(`product ${id}`))
  })
  app.post('/internal/stock/reserve', async (request) =>
    service.reserveStock(parse(reserve, request.body, 'reservation')),
  )
  app.post('/internal/stock/release', async (request) =>
    service.releaseStock(parse(release, request.body, 'release')),
  )
  app.get('/internal/products/:id/source', async (request) => {
    const id = parse(intId, (request.params as { id: string }).id, 'product id')
    return (await service.source(id)) ?? Promise.reject(notFound(`product ${id}`))
  })
  app.post('/internal/faults', async (request) => {
    // Only the verify tool's real-mode runs arm this; it kills the process on its next write.
    Object.assign(service.faults, parse(faults, request.body, 'faults'))
    return service.faults
  })
  extra?.(app)
  return app
}
