import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type AdminOptions,
  type AdminSources,
  createAdminHandler,
  createAdminRoutes,
} from '../../src/admin/index.js'
import { createChecker } from '../../src/checker/index.js'

const TOKEN = 'handler-token-0123456789abcdef'
const bearer = { authorization: `Bearer ${TOKEN}` }
const servers: Server[] = []

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))))
})

/** A node:http server around the handler; `fallback` stands for the rest of an Express-style app. */
async function serve(options: Partial<AdminOptions> = {}, withNext = false): Promise<string> {
  const admin = createAdminHandler({ token: TOKEN, sources: {}, ...options })
  const server = createServer((req, res) => {
    if (!withNext) return admin(req, res)
    admin(req, res, () => {
      res.writeHead(418).end('the app')
    })
  })
  servers.push(server)
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const ROUTES = [
  ['GET', '/admin/'],
  ['GET', '/admin/consistency/status'],
  ['POST', '/admin/consistency/check'],
  ['GET', '/admin/consistency/history'],
  ['GET', '/admin/internal/caches/products/1'],
  ['GET', '/metrics'],
] as const

function checker() {
  const copy = new Map([['1', { version: 1, value: 'old' }]])
  return createChecker({
    comparators: [
      {
        name: 'things',
        sample: async () => ['1'],
        source: async () => ({ version: 2, value: 'new' }),
        copies: [{ name: 'l2', read: async (k) => copy.get(k), repair: async (k) => void copy.delete(k) }],
      },
    ],
  })
}

describe('createAdminHandler on node:http', () => {
  it('answers 401 on every route without the token, or a wrong one, exactly as the fastify routes do', async () => {
    const base = await serve()
    const app = Fastify({ logger: false })
    createAdminRoutes(app, { token: TOKEN, sources: {} })
    for (const [method, url] of ROUTES) {
      for (const headers of [{}, { authorization: `Bearer ${TOKEN}0` }] as Record<string, string>[]) {
        const viaNode = await fetch(`${base}${url}?token=wrong-token-guess-1234`, { method, headers })
        const viaFastify = await app.inject({ method, url: `${url}?token=wrong-token-guess-1234`, headers })
        expect(viaNode.status, `${method} ${url}`).toBe(401)
        expect(viaFastify.statusCode, `${method} ${url}`).toBe(401)
        const body = await viaNode.text()
        expect(body).toBe(viaFastify.body)
        expect(body).not.toContain('wrong-token-guess')
        expect(viaNode.headers.get('www-authenticate')).toBe(viaFastify.headers['www-authenticate'])
      }
    }
    await app.close()
  })

  it('serves the dashboard, the status, the redirect and the metrics with the token', async () => {
    const sources: AdminSources = {
      outbox: () => [{ shard: 0, pending: 4, deadLetters: 1, oldestAgeMs: 1500 }],
      sagas: () => ({ NEEDS_ATTENTION: 2 }),
    }
    const base = await serve({ sources })
    const page = await fetch(`${base}/admin/?token=${TOKEN}`)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'sha256-/)
    expect(await page.text()).toContain('<svg id="chart-hits"')
    const status = await (await fetch(`${base}/admin/consistency/status`, { headers: bearer })).json()
    expect(status).toMatchObject({ pendingOutboxEvents: 4, deadLetters: 1, sagas: { NEEDS_ATTENTION: 2 } })
    const redirect = await fetch(`${base}/admin?token=${TOKEN}`, { redirect: 'manual' })
    expect(redirect.status).toBe(302)
    expect(redirect.headers.get('location')).toBe(`admin/?token=${TOKEN}`)
    const metrics = await fetch(`${base}/metrics`, { headers: bearer })
    expect(metrics.headers.get('content-type')).toContain('text/plain')
    const text = await metrics.text()
    expect(text).toContain('concord_outbox_dead_letters{shard="0"} 1')
    expect(text).toContain('concord_sagas{status="NEEDS_ATTENTION"} 2')
  })

  it('reads the check body from the stream, or the one a framework parsed, and rejects bad ones', async () => {
    const base = await serve({ sources: { checker: checker() } })
    const post = (body: string) =>
      fetch(`${base}/admin/consistency/check`, {
        method: 'POST',
        headers: { ...bearer, 'content-type': 'application/json' },
        body,
      })
    expect((await post('{"budget":-1}')).status).toBe(400)
    expect((await post('{not json')).status).toBe(400)
    const run = await post('{"repair":false}')
    expect(run.status).toBe(200)
    expect(await run.json()).toMatchObject({ inconsistent: 1, repaired: 0 })

    // Express' json() and Nest leave the parsed body on req.body and the stream drained.
    const admin = createAdminHandler({ token: TOKEN, sources: { checker: checker() } })
    const server = createServer((req, res) => {
      Object.assign(req, { body: { repair: true } })
      req.resume()
      admin(req, res)
    })
    servers.push(server)
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/admin/consistency/check`
    const parsed = await fetch(url, { method: 'POST', headers: bearer, body: 'ignored' })
    expect(await parsed.json()).toMatchObject({ inconsistent: 1, repaired: 1 })
  })

  it('passes requests it has no route for to next, and answers 404 without one', async () => {
    const withNext = await serve({}, true)
    expect((await fetch(`${withNext}/orders/1`)).status).toBe(418)
    expect((await fetch(`${withNext}/admin/consistency/status`, { headers: bearer })).status).toBe(200)
    const alone = await serve()
    expect((await fetch(`${alone}/orders/1`)).status).toBe(404)
  })

  it('serves /metrics without the token only when metricsAuth is open', async () => {
    const open = await serve({ metricsAuth: 'open' })
    expect((await fetch(`${open}/metrics`)).status).toBe(200)
    expect((await fetch(`${open}/admin/consistency/status`)).status).toBe(401)
  })

  it('rejects a short token with the factory name', () => {
    expect(() => createAdminHandler({ token: 'short', sources: {} })).toThrow(
      /createAdminHandler.*token: at least 16 characters/,
    )
  })
})
