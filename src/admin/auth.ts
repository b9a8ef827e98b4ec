import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'

/**
 * Checks admin tokens. The expected token is kept only as its SHA-256 digest, and a presented token is
 * hashed before a constant-time comparison: equal-length digests make `timingSafeEqual` usable for any input
 * length and leak nothing about the token's length or prefix through timing.
 */
export function tokenGuard(token: string): (presented: string | undefined) => boolean {
  const expected = digest(token)
  return (presented) => presented !== undefined && timingSafeEqual(digest(presented), expected)
}

/** The token of a request: `Authorization: Bearer <token>`, else the `token` query parameter (the page's URL). */
export function presentedToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (match) return match[1]
  }
  const query = request.query as Record<string, unknown> | undefined
  const token = query?.token
  return typeof token === 'string' && token.length > 0 ? token : undefined
}

/** A fastify `onRequest` hook answering 401 unless the request carries the token. Never echoes what it got. */
export function requireToken(matches: (presented: string | undefined) => boolean) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    if (matches(presentedToken(request))) return
    reply.header('www-authenticate', 'Bearer realm="concord-admin"').header('cache-control', 'no-store')
    if (request.method === 'GET' && (request.routeOptions.url ?? '').endsWith('/admin/')) {
      return reply
        .code(401)
        .type('text/html; charset=utf-8')
        .send(
          '<!doctype html><meta charset="utf-8"><title>401</title><p>401 Unauthorized: open the URL the demo printed ' +
            '(it carries <code>?token=</code>), or send <code>Authorization: Bearer &lt;token&gt;</code>.</p>',
        )
    }
    return reply.code(401).send({ error: 'unauthorized: send Authorization: Bearer <token> or ?token=' })
  }
}

/**
 * `url` with the value of any `token` query parameter replaced by `***`. Use it in a request logger's serializer
 * so the admin token in a dashboard URL never reaches the logs:
 * `Fastify({ logger: { serializers: { req: (r) => ({ method: r.method, url: redactToken(r.url) }) } } })`.
 */
export function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1***')
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}
