import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/**
 * Checks admin tokens. The expected token is kept only as its SHA-256 digest, and a presented token is
 * hashed before a constant-time comparison: equal-length digests make `timingSafeEqual` usable for any input
 * length and leak nothing about the token's length or prefix through timing.
 */
export function tokenGuard(token: string): (presented: string | undefined) => boolean {
  const expected = digest(token)
  return (presented) => presented !== undefined && timingSafeEqual(digest(presented), expected)
}

/**
 * The token of a request: `Authorization: Bearer <token>`, else the `token` query parameter (the page's URL).
 * The one place every adapter (node:http, Express, Nest, fastify) reads it from.
 */
export function presentedToken(headers: IncomingHttpHeaders, query: URLSearchParams): string | undefined {
  const header = headers.authorization
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    if (match) return match[1]
  }
  const token = query.get('token')
  return token !== null && token.length > 0 ? token : undefined
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
