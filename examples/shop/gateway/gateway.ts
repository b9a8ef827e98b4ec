import type { FastifyInstance } from 'fastify'
import { createApp, HttpError } from '../http.js'
import type { Product } from '../schema.js'
import type { Directory, ServiceName } from './directory.js'
import type { Transport } from './transport.js'

const ROUTES: [RegExp, ServiceName][] = [
  [/^\/products(\/|$|\?)/, 'product'],
  [/^\/orders(\/|$|\?)/, 'order'],
  [/^\/members(\/|$|\?)/, 'member'],
  [/^\/search(\/|$|\?)/, 'search'],
]

/**
 * The public entry: forwards each request of the shop's API to an instance of the service that owns it,
 * the one named by `x-instance` or the next in turn. Internal routes (`/internal/...`) are not reachable
 * from outside.
 */
export function createGateway(
  directory: Directory,
  transport: Transport,
  options: {
    /** Mounts more routes (the admin API and dashboard). */
    extra?: (app: FastifyInstance) => void
    /** Sees every successful product write's answer (the convergence tracer follows some). */
    onProductWrite?: (product: Product) => void
  } = {},
): FastifyInstance {
  const app = createApp()

  const forward = async (request: import('fastify').FastifyRequest) => {
    // Route on the path as the instance will resolve it: `/products/../internal/...` (or `%2e%2e`) matches
    // `/products/*` as sent, but is `/internal/...` once resolved, and the internal routes are not public.
    const resolved = new URL(request.url, 'http://gateway')
    const url = resolved.pathname + resolved.search
    const service = ROUTES.find(([pattern]) => pattern.test(url))?.[1]
    if (!service) throw new HttpError(404, `no route ${request.method} ${url}`)
    const header = request.headers['x-instance']
    const requested = Array.isArray(header) ? header[0] : header
    const instance = directory.pick(service, requested)
    if (!instance)
      throw new HttpError(400, `x-instance ${requested} is not an instance of the ${service} service`)
    const response = await transport.request(instance, {
      method: request.method as 'GET' | 'POST' | 'PUT' | 'DELETE',
      url,
      body: request.body === undefined || request.body === '' ? undefined : request.body,
      headers: request.body === undefined ? {} : { 'content-type': 'application/json' },
    })
    return { ...response, instance }
  }

  // The forwarding routes get their own scope: there a JSON body stays text, and the owning service parses
  // and validates it (one place for the rules). The admin routes keep fastify's JSON parsing.
  const forwarding = async (scope: FastifyInstance) => {
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      done(null, body)
    })
    for (const method of ['GET', 'POST', 'PUT', 'DELETE'] as const) {
      for (const path of ['/products', '/products/*', '/orders', '/orders/*', '/members/*', '/search']) {
        scope.route({
          method,
          url: path,
          handler: async (request, reply) => {
            const { status, body, headers, instance } = await forward(request)
            // A delete leaves nothing to follow: the tracer follows versions that copies show.
            if (
              (method === 'POST' || method === 'PUT') &&
              status < 300 &&
              request.url.startsWith('/products')
            ) {
              options.onProductWrite?.(body as Product)
            }
            return reply
              .status(status)
              .headers({ ...headers, 'x-concord-instance': instance })
              .send(body)
          },
        })
      }
    }
  }
  void app.register(forwarding)
  options.extra?.(app)
  return app
}
