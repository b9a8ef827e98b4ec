import { z } from 'zod'
import { notFound, parse } from '../../http.js'
import { answer, type Route } from '../../routes.js'
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

/** `x-concord-lsn`: a write's commit LSN, or the replay LSN a replica fill read at (verify checks C4 with it). */
const lsnHeader = (lsn: string | undefined): Record<string, string> => (lsn ? { 'x-concord-lsn': lsn } : {})

/** A product instance's HTTP face: the public product API, and the internal calls of sagas and probes. */
export function productRoutes(service: ProductService, extra: readonly Route[] = []): Route[] {
  return [
    {
      method: 'GET',
      url: '/products/:id',
      handler: async ({ params }) => {
        const id = parse(intId, params.id, 'product id')
        const { product, source, lsn } = await service.getWithSource(id)
        if (!product) throw notFound(`product ${id}`)
        return answer(product, 200, { 'x-concord-source': source, ...lsnHeader(lsn) })
      },
    },
    {
      method: 'POST',
      url: '/products',
      handler: async ({ body }) => {
        const commit: { lsn?: string } = {}
        const product = await service.create(parse(createProduct, body, 'product'), commit)
        return answer(product, 201, lsnHeader(commit.lsn))
      },
    },
    {
      method: 'PUT',
      url: '/products/:id',
      handler: async ({ params, body }) => {
        const id = parse(intId, params.id, 'product id')
        const commit: { lsn?: string } = {}
        const product = await service.update(id, parse(updateProduct, body, 'product update'), commit)
        if (!product) throw notFound(`product ${id}`)
        return answer(product, 200, lsnHeader(commit.lsn))
      },
    },
    {
      method: 'DELETE',
      url: '/products/:id',
      handler: async ({ params }) => {
        const id = parse(intId, params.id, 'product id')
        const commit: { lsn?: string } = {}
        const deleted = await service.delete(id, commit)
        if (!deleted) throw notFound(`product ${id}`)
        return answer({ id, version: deleted.version, deleted: true }, 200, lsnHeader(commit.lsn))
      },
    },
    {
      method: 'POST',
      url: '/internal/stock/reserve',
      handler: async ({ body }) => answer(await service.reserveStock(parse(reserve, body, 'reservation'))),
    },
    {
      method: 'POST',
      url: '/internal/stock/release',
      handler: async ({ body }) => answer(await service.releaseStock(parse(release, body, 'release'))),
    },
    {
      method: 'GET',
      url: '/internal/products/:id/source',
      handler: async ({ params }) => {
        const id = parse(intId, params.id, 'product id')
        const product = await service.source(id)
        if (!product) throw notFound(`product ${id}`)
        return answer(product)
      },
    },
    {
      method: 'POST',
      url: '/internal/faults',
      handler: async ({ body }) => {
        // Only the verify tool's real-mode runs arm this; it kills the process on its next write.
        Object.assign(service.faults, parse(faults, body, 'faults'))
        return answer(service.faults)
      },
    },
    ...extra,
  ]
}
