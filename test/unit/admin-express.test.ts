import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterEach, describe, expect, it } from 'vitest'
import { type AdminSources, createAdminHandler } from '../../src/admin/index.js'

const TOKEN = 'express-token-0123456789abcdef'
const bearer = { authorization: `Bearer ${TOKEN}` }
const servers: Server[] = []

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))))
})

const sources: AdminSources = {
  outbox: () => [{ shard: 0, pending: 3, deadLetters: 2, oldestAgeMs: 900 }],
  sagas: () => ({ NEEDS_ATTENTION: 1 }),
}

/** A real Express app with the handler mounted at `mount`, its own JSON body parser and a route of its own. */
async function serve(mount: string): Promise<string> {
  const app = express()
  app.use(express.json())
  app.use(mount, createAdminHandler({ token: TOKEN, sources }))
  app.get('/hello', (_req, res) => void res.send('the app'))
  const server = app.listen(0, '127.0.0.1')
  servers.push(server)
  await new Promise<void>((done) => server.once('listening', done))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

describe('createAdminHandler in an Express app', () => {
  for (const mount of ['/', '/ops']) {
    const at = mount === '/' ? '' : mount
    it(`checks the token and serves status, dashboard and metrics mounted at ${mount}`, async () => {
      const base = await serve(mount)
      for (const path of ['/admin/', '/admin/consistency/status', '/metrics']) {
        const denied = await fetch(`${base}${at}${path}`)
        expect(denied.status, path).toBe(401)
        expect(denied.headers.get('www-authenticate')).toMatch(/^Bearer/)
        expect((await fetch(`${base}${at}${path}?token=wrong-token-0123456789`)).status, path).toBe(401)
      }
      const status = await fetch(`${base}${at}/admin/consistency/status`, { headers: bearer })
      expect(status.status).toBe(200)
      expect(await status.json()).toMatchObject({
        pendingOutboxEvents: 3,
        deadLetters: 2,
        sagas: { NEEDS_ATTENTION: 1 },
      })
      const page = await fetch(`${base}${at}/admin/?token=${TOKEN}`)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')
      expect(await page.text()).toContain('<svg id="chart-hits"')
      const metrics = await fetch(`${base}${at}/metrics`, { headers: bearer })
      expect(metrics.status).toBe(200)
      expect(await metrics.text()).toContain('concord_outbox_dead_letters{shard="0"} 2')
      // Express's own routes still answer: the handler passes what it does not serve to next().
      const hello = await fetch(`${base}/hello`)
      expect(await hello.text()).toBe('the app')
    })
  }

  it('answers a check without a checker wired, and leaves unknown paths to Express (404)', async () => {
    const base = await serve('/')
    const check = await fetch(`${base}/admin/consistency/check`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ budget: 'lots' }),
    })
    expect(check.status).toBe(404)
    expect(await check.json()).toEqual({ error: 'no checker is wired to the admin routes' })
    const missing = await fetch(`${base}/nowhere`)
    expect(missing.status).toBe(404)
  })
})
