import type { FastifyInstance } from 'fastify'
import Fastify from 'fastify'
import type { z } from 'zod'

/** A 4xx the caller caused; its message goes back in the body. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

/** Validates `input` or throws a 400 naming every bad field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input)
  if (result.success) return result.data
  const detail = result.error.issues.map((i) => `${i.path.join('.') || what}: ${i.message}`).join('; ')
  throw new HttpError(400, `invalid ${what}: ${detail}`)
}

export const notFound = (what: string) => new HttpError(404, `${what} not found`)

/** Business refusals of a saga participant: the caller's step turns them back into the same error. */
const CONFLICTS = new Set(['E_SAGA_STEP_REJECTED', 'E_SAGA_EFFECT_CANCELLED'])

/**
 * The shop's error policy: a 4xx keeps its message, anything else is a 500 whose details are logged, not
 * sent. Fastify's error handler and the direct transport both answer with it.
 */
export function errorAnswer(
  error: { statusCode?: number; message: string; code?: string },
  method: string,
  url: string,
): { status: number; body: { error: string; code?: string } } {
  const status = CONFLICTS.has(error.code ?? '')
    ? 409
    : error.statusCode && error.statusCode >= 400 && error.statusCode < 500
      ? error.statusCode
      : 500
  if (status === 500) console.error(`${method} ${url} failed:`, error)
  return { status, body: { error: status === 500 ? 'internal error' : error.message, code: error.code } }
}

/** A fastify app with the shop's error policy. Bodies are capped so an oversized one is a 413, not a memory spike. */
export function createApp(): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: BODY_LIMIT })
  app.setErrorHandler((error: { statusCode?: number; message: string; code?: string }, request, reply) => {
    const { status, body } = errorAnswer(error, request.method, request.url)
    reply.status(status).send(body)
  })
  return app
}

/** The largest request body any app of the shop accepts, bytes. */
export const BODY_LIMIT = 64 * 1024
