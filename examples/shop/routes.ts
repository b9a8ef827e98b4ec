import type { FastifyInstance } from 'fastify'
import { createApp } from './http.js'

/** What a route handler reads of a request: the same fields whether fastify or the direct transport calls it. */
export interface RouteInput {
  params: Record<string, string>
  query: Record<string, unknown>
  body: unknown
  headers: Record<string, string | string[] | undefined>
}

/** A handler's answer: its status, its body (a JSON value) and the headers it sets. */
export interface Answer {
  status: number
  body: unknown
  headers?: Record<string, string>
}

/**
 * One route of a service instance, written once and served two ways: mounted on fastify (an instance in its
 * own process, real mode) or called in process by `directTransport` (embedded), with no HTTP in between.
 */
export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  url: string
  handler(input: RouteInput): Promise<Answer>
}

/** A 200 answer (or `status`) with `body`. */
export const answer = (body: unknown, status = 200, headers?: Record<string, string>): Answer => ({
  status,
  body,
  headers,
})

/** An instance's fastify app: its routes, with the shop's error policy. */
export function mountRoutes(routes: readonly Route[]): FastifyInstance {
  const app = createApp()
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request, reply) => {
        const { status, body, headers } = await route.handler(request as unknown as RouteInput)
        if (headers) reply.headers(headers)
        return reply.status(status).send(body)
      },
    })
  }
  return app
}
