/**
 * The integration guide (docs/guides/integrations.md): the admin routes on an application's fastify.
 * Embedded: no servers. Run: node --import tsx --conditions=source docs/snippets/guides/integrations/fastify.ts
 */
import { randomBytes } from 'node:crypto'
import { createAdminRoutes, redactToken } from 'concord/admin'
import { createCache } from 'concord/cache'
import Fastify from 'fastify'
import { Registry } from 'prom-client'

const products = createCache<number>({ name: 'products' })

// #region fastify
const token = process.env.ADMIN_TOKEN ?? randomBytes(24).toString('base64url')
const app = Fastify({
  // the dashboard link carries ?token=: keep it out of request logs
  logger: { level: 'warn', serializers: { req: (r) => ({ method: r.method, url: redactToken(r.url) }) } },
})
createAdminRoutes(app, {
  token,
  registry: new Registry(),
  sources: { caches: () => [products.stats()] },
})
// app.get('/products/:id', ...) - the application's own routes beside them
// #endregion fastify

const answer = await app.inject({
  url: '/admin/consistency/status',
  headers: { authorization: `Bearer ${token}` },
})
console.log(`fastify: status ${answer.statusCode}, caches ${answer.json().caches.length}`)
await app.close()
await products.close()
