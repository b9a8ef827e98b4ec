import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningDemo, startDemo } from './demo.js'
import type { ShopBackdoor } from './shop-backdoor.js'
import { waitFor } from './wait.js'

/** Staleness bounds the shop promises, as the README states them. */
export const CROSS_INSTANCE_BOUND_MS = 1000
export const PROJECTION_BOUND_MS = 5000

type Json = Record<string, unknown>

/** How many copies of a product the checker compares: both tiers of two caches on two instances each, and search. */
const COPIES_PER_PRODUCT = 1 + 2 + 1 + 2 + 1

/**
 * Reads until `isFresh` holds and fails if a read that began more than `boundMs` after `since` was not fresh: a
 * stale read, as docs/contract.md defines it, starts after the acknowledgement plus the bound. A read that began
 * within the bound may be old, so HTTP's own delay on a loaded machine (13 processes on 2 cores for the real
 * shop) neither fails the test nor hides a stale answer. A read that throws (a failed order) is neither.
 */
async function freshWithin<T>(
  read: () => Promise<T>,
  isFresh: (value: T) => boolean,
  { since, boundMs, what }: { since: number; boundMs: number; what: string },
): Promise<T> {
  const late: string[] = []
  const value = await waitFor(
    async () => {
      const started = Date.now()
      const value = await read()
      if (isFresh(value)) return { value }
      if (started > since + boundMs) late.push(`+${started - since} ms: ${JSON.stringify(value)}`)
      return undefined
    },
    { timeoutMs: boundMs + 30_000, intervalMs: 20, what },
  )
  expect(late, `${what}: stale reads begun after the ${boundMs} ms bound`).toEqual([])
  return value.value
}

export interface ShopSuiteOptions {
  /** Servers the test starts itself and can reach behind the shop's back (the real shop; C8 with a planted fault). */
  backdoor?: () => Promise<ShopBackdoor>
}

/**
 * The shop's black-box contract over HTTP only, run against the embedded demo and the real one
 * (examples/shop/API.md).
 */
export function shopSuite(
  name: string,
  args: string[],
  startTimeoutMs: number,
  options: ShopSuiteOptions = {},
): void {
  describe(name, () => {
    let demo: RunningDemo
    let backdoor: ShopBackdoor | undefined
    beforeAll(async () => {
      backdoor = await options.backdoor?.()
      demo = await startDemo(['--port', '0', '--no-load', ...args], {
        timeoutMs: startTimeoutMs,
        env: backdoor?.env ?? {},
      })
    }, startTimeoutMs + 40_000)
    afterAll(async () => {
      await demo?.stop()
      await backdoor?.close()
    })

    const call = async (
      method: string,
      path: string,
      body?: unknown,
      { raw, instance }: { raw?: string; instance?: string } = {},
    ) => {
      const headers: Record<string, string> = {}
      if (body !== undefined || raw !== undefined) headers['content-type'] = 'application/json'
      if (instance) headers['x-instance'] = instance
      const response = await fetch(`${demo.baseUrl}${path}`, {
        method,
        headers,
        body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
      })
      const text = await response.text()
      return {
        status: response.status,
        body: (text ? JSON.parse(text) : undefined) as Json,
        source: response.headers.get('x-concord-source'),
        servedBy: response.headers.get('x-concord-instance'),
      }
    }

    it('serves seeded products and members', async () => {
      const product = await call('GET', '/products/7')
      expect(product.status).toBe(200)
      expect(product.body).toMatchObject({ id: 7, stock: 1000 })
      expect(typeof product.body.price).toBe('number')
      expect(typeof product.body.version).toBe('number')
      expect((await call('GET', '/members/9')).body).toEqual({ id: 9, points: 10000 })
    })

    it('says which instance served a read and where its value came from', async () => {
      const first = await call('GET', '/products/8', undefined, { instance: 'product-2' })
      expect(first.servedBy).toBe('product-2')
      expect(['l1', 'l2', 'replica', 'primary']).toContain(first.source)
      // Once filled, the same instance answers from its L1 (after its bus reports healthy).
      await waitFor(
        async () => (await call('GET', '/products/8', undefined, { instance: 'product-2' })).source === 'l1',
        {
          timeoutMs: 5000,
          what: 'an L1 hit on product-2',
        },
      )
    })

    it('creates a product and bumps its version on update', async () => {
      const created = await call('POST', '/products', { name: 'brass lamp', price: 19.99, stock: 5 })
      expect(created.status).toBe(201)
      expect(created.body).toMatchObject({ name: 'brass lamp', price: 19.99, stock: 5, version: 1 })
      const id = created.body.id as number
      expect(id).toBeGreaterThan(100)
      const updated = await call('PUT', `/products/${id}`, { price: 24.5 })
      expect(updated.body).toMatchObject({ id, name: 'brass lamp', price: 24.5, stock: 5, version: 2 })
      expect((await call('GET', `/products/${id}`)).body).toEqual(updated.body)
    })

    it('shows a price written via product-1 on product-2 within the bound, and at once on product-1', async () => {
      // Warm both instances' L1 with the old value first, so the read below must see an invalidation.
      await call('GET', '/products/11', undefined, { instance: 'product-1' })
      await call('GET', '/products/11', undefined, { instance: 'product-2' })
      const price = 100 + Math.round(Math.random() * 10_000) / 100
      const written = await call('PUT', '/products/11', { price }, { instance: 'product-1' })
      expect(written.status).toBe(200)
      const ackedAt = Date.now()
      expect((await call('GET', '/products/11', undefined, { instance: 'product-1' })).body.version).toBe(
        written.body.version,
      )
      await freshWithin(
        async () => (await call('GET', '/products/11', undefined, { instance: 'product-2' })).body.version,
        (version) => version === written.body.version,
        { since: ackedAt, boundMs: CROSS_INSTANCE_BOUND_MS, what: 'product-2 to serve the new version' },
      )
      expect((await call('GET', '/products/11', undefined, { instance: 'product-2' })).body).toEqual(
        written.body,
      )
    })

    it('prices orders at a changed price within the bound on every order instance (C7)', async () => {
      const created = await call('POST', '/products', { name: 'tin kettle', price: 30, stock: 1000 })
      expect(created.status).toBe(201)
      const id = created.body.id as number
      const order = async (instance: string) => {
        const placed = await call(
          'POST',
          '/orders',
          { memberId: 51, productId: id, quantity: 1, points: 0 },
          { instance },
        )
        if (placed.status !== 201) throw new Error(`order on ${instance}: ${placed.status}`)
        expect(placed.body.status).toBe('CONFIRMED')
        return placed.body.unitPrice as number
      }
      // Each order instance caches the product's info at its first order (its L1 and the shared L2).
      for (const instance of ['order-1', 'order-2']) expect(await order(instance)).toBe(30)
      const written = await call('PUT', `/products/${id}`, { price: 45 })
      expect(written.status).toBe(200)
      const ackedAt = Date.now()
      for (const instance of ['order-1', 'order-2']) {
        await freshWithin(
          () => order(instance),
          (price) => price === 45,
          { since: ackedAt, boundMs: PROJECTION_BOUND_MS, what: `${instance} to price at 45` },
        )
      }
      // And it stays there: no copy brings the old price back.
      for (const instance of ['order-1', 'order-2', 'order-1', 'order-2'])
        expect(await order(instance)).toBe(45)
    })

    it('shows a rename in search within the bound', async () => {
      const word = `zeta${Date.now().toString(36)}`
      const renamed = await call('PUT', '/products/12', { name: `${word} chair` })
      expect(renamed.status).toBe(200)
      const hits = await freshWithin(
        async () => (await call('GET', `/search?q=${word}`)).body as unknown as Json[],
        (found) => found.length > 0,
        { since: Date.now(), boundMs: PROJECTION_BOUND_MS, what: 'search to show the rename' },
      )
      expect(hits).toEqual([
        { id: 12, name: `${word} chair`, price: renamed.body.price, version: renamed.body.version },
      ])
    })

    it('deletes a product everywhere: at once on the deleting instance, within the bounds elsewhere', async () => {
      const word = `omega${Date.now().toString(36)}`
      const created = await call('POST', '/products', { name: `${word} lamp`, price: 9, stock: 5 })
      expect(created.status).toBe(201)
      const id = created.body.id as number
      // Warm every copy: both product instances' L1, and the search projection.
      await waitFor(
        async () => ((await call('GET', `/search?q=${word}`)).body as unknown as Json[]).length === 1,
        {
          timeoutMs: PROJECTION_BOUND_MS,
          what: 'search to show the new product',
        },
      )
      expect((await call('GET', `/products/${id}`, undefined, { instance: 'product-1' })).status).toBe(200)
      expect((await call('GET', `/products/${id}`, undefined, { instance: 'product-2' })).status).toBe(200)

      const deleted = await call('DELETE', `/products/${id}`, undefined, { instance: 'product-1' })
      expect(deleted.status).toBe(200)
      const ackedAt = Date.now()
      expect(deleted.body).toEqual({ id, version: (created.body.version as number) + 1, deleted: true })
      expect((await call('GET', `/products/${id}`, undefined, { instance: 'product-1' })).status).toBe(404)
      await freshWithin(
        async () => (await call('GET', `/products/${id}`, undefined, { instance: 'product-2' })).status,
        (status) => status === 404,
        { since: ackedAt, boundMs: CROSS_INSTANCE_BOUND_MS, what: 'product-2 to stop serving it' },
      )
      await freshWithin(
        async () => ((await call('GET', `/search?q=${word}`)).body as unknown as Json[]).length,
        (hits) => hits === 0,
        { since: ackedAt, boundMs: PROJECTION_BOUND_MS, what: 'search to drop the deleted product' },
      )
      // Gone for good: no update, no order, no second delete brings it back.
      expect((await call('PUT', `/products/${id}`, { price: 1 })).status).toBe(404)
      expect((await call('DELETE', `/products/${id}`)).status).toBe(404)
      const order = await call('POST', '/orders', { memberId: 3, productId: id, quantity: 1, points: 0 })
      expect(order.status).toBe(404)
      expect((await call('GET', `/products/${id}`, undefined, { instance: 'product-2' })).status).toBe(404)
    })

    for (const mode of ['saga', 'events'] as const) {
      it(`keeps stock and points conserved over 50 concurrent orders (${mode})`, async () => {
        const productId = mode === 'saga' ? 21 : 22
        const members = mode === 'saga' ? [31, 32, 33, 34, 35] : [41, 42, 43, 44, 45]
        const stockBefore = (await call('GET', `/products/${productId}`)).body.stock as number
        const pointsBefore = new Map<number, number>()
        for (const m of members)
          pointsBefore.set(m, (await call('GET', `/members/${m}`)).body.points as number)

        // Some orders ask for more points than a member has left: they must cancel and undo their stock.
        const orders = Array.from({ length: 50 }, (_, i) => ({
          memberId: members[i % members.length]!,
          productId,
          quantity: 1 + (i % 3),
          points: i % 7 === 0 ? 20_000 : 100 + i * 10,
        }))
        const placed = await Promise.all(orders.map((order) => call('POST', `/orders?mode=${mode}`, order)))
        for (const p of placed) expect(p.status).toBe(201)

        const final = await Promise.all(
          placed.map((p) =>
            waitFor(
              async () => {
                const { body } = await call('GET', `/orders/${p.body.id}`)
                return body.status !== 'PENDING' ? body : undefined
              },
              { timeoutMs: 30_000, what: `order ${p.body.id} to end` },
            ),
          ),
        )
        const confirmed = final.filter((o) => o.status === 'CONFIRMED')
        expect(final.every((o) => o.status === 'CONFIRMED' || o.status === 'CANCELLED')).toBe(true)
        expect(confirmed.length).toBeGreaterThan(0)
        expect(final.filter((o) => o.status === 'CANCELLED').length).toBeGreaterThanOrEqual(
          orders.filter((o) => o.points > 10_000).length,
        )

        // Compensations in events mode may land just after the order reads CANCELLED: wait for quiet.
        await waitFor(
          async () => {
            const stock = (await call('GET', `/products/${productId}`)).body.stock as number
            return stock === stockBefore - confirmed.reduce((sum, o) => sum + (o.quantity as number), 0)
          },
          { timeoutMs: 10_000, what: 'stock = before - confirmed quantities' },
        )
        for (const m of members) {
          const used = confirmed
            .filter((o) => o.memberId === m)
            .reduce((sum, o) => sum + (o.points as number), 0)
          await waitFor(
            async () => (await call('GET', `/members/${m}`)).body.points === pointsBefore.get(m)! - used,
            {
              timeoutMs: 10_000,
              what: `member ${m} points = before - confirmed points`,
            },
          )
        }
        const product = (await call('GET', `/products/${productId}`)).body
        for (const o of confirmed) expect(o.unitPrice).toBe(product.price)
      })
    }

    it('answers bad input with a 4xx and a message, and changes nothing', async () => {
      const productBefore = (await call('GET', '/products/3')).body
      const memberBefore = (await call('GET', '/members/3')).body
      const bad: [string, string, unknown, string?][] = [
        ['PUT', '/products/3', { price: -1 }],
        ['PUT', '/products/3', { price: 'cheap' }],
        ['PUT', '/products/3', { stock: 1.5 }],
        ['PUT', '/products/3', {}],
        ['PUT', '/products/3', { price: 5, extra: true }],
        ['PUT', '/products/3', undefined, '{"price": 5'],
        ['POST', '/products', { name: '', price: 1, stock: 1 }],
        ['POST', '/products', { name: 'x', price: 1e12, stock: 1 }],
        ['POST', '/products', { name: 'x'.repeat(100_000), price: 1, stock: 1 }],
        ['GET', '/products/abc', undefined],
        ['GET', '/products/-4', undefined],
        ['POST', '/orders', { memberId: 3, productId: 3, quantity: -1, points: 0 }],
        ['POST', '/orders', { memberId: 3, productId: 3, quantity: 1e9, points: 0 }],
        ['POST', '/orders', { memberId: 3, productId: 3, quantity: 1, points: -5 }],
        ['POST', '/orders', { memberId: 'x', productId: 3, quantity: 1, points: 0 }],
        ['POST', '/orders', { productId: 3, quantity: 1, points: 0 }],
        ['POST', '/orders', undefined, '[1,2'],
        ['POST', '/orders?mode=sideways', { memberId: 3, productId: 3, quantity: 1, points: 0 }],
        ['GET', '/orders/not-a-uuid', undefined],
        ['GET', '/search', undefined],
        ['GET', `/search?q=${'q'.repeat(500)}`, undefined],
        ['GET', '/members/0', undefined],
      ]
      for (const [method, path, body, raw] of bad) {
        const { status, body: answer } = await call(method, path, body, { raw })
        const what = `${method} ${path.slice(0, 40)} ${raw ?? JSON.stringify(body)?.slice(0, 40)}`
        expect(status, what).toBeGreaterThanOrEqual(400)
        expect(status, what).toBeLessThan(500)
        expect(typeof answer.error, what).toBe('string')
      }
      expect((await call('GET', '/products/3')).body).toEqual(productBefore)
      expect((await call('GET', '/members/3')).body).toEqual(memberBefore)
    })

    it('serves the status API, metrics and dashboard behind the admin token', async () => {
      const token = new URL(demo.dashboardUrl).searchParams.get('token')!
      expect(token.length).toBeGreaterThanOrEqual(16)
      expect((await fetch(`${demo.baseUrl}/admin/consistency/status`)).status).toBe(401)
      expect((await fetch(`${demo.baseUrl}/metrics`)).status).toBe(401)
      const auth = { headers: { authorization: `Bearer ${token}` } }
      const status = (await (await fetch(`${demo.baseUrl}/admin/consistency/status`, auth)).json()) as Json
      for (const section of ['replicationLag', 'l1HitRate', 'l2HitRate', 'pendingOutboxEvents', 'sagas']) {
        expect(status, section).toHaveProperty(section)
      }
      const metrics = await (await fetch(`${demo.baseUrl}/metrics`, auth)).text()
      expect(metrics).toMatch(/^# TYPE concord_/m)
      const page = await fetch(demo.dashboardUrl)
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('<html')

      // The checker, on demand, over every product (each shard samples up to the budget): the shop is quiet,
      // so every copy of every product agrees with its source.
      const report = await check(token, { budget: 10_000, repair: false })
      expect(report.keys).toBeGreaterThanOrEqual(100) // the seeded products, and those the tests made
      expect(report).toMatchObject({ inconsistent: 0, repaired: 0, unrepaired: 0, errors: 0 })
      expect(report.checked).toBe((report.keys as number) * COPIES_PER_PRODUCT)
    })

    const check = async (token: string, body: Json) => {
      const response = await fetch(`${demo.baseUrl}/admin/consistency/check`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      expect(response.status).toBe(200)
      return (await response.json()) as Json & { startedAt: string; divergences: Json[] }
    }

    it.runIf(options.backdoor)(
      'finds a divergence planted behind the shop, repairs it, and counts it (C8)',
      async () => {
        const token = new URL(demo.dashboardUrl).searchParams.get('token')!
        const word = `sigma${Date.now().toString(36)}`
        const created = await call('POST', '/products', { name: `${word} vase`, price: 12, stock: 5 })
        const id = created.body.id as number
        await waitFor(
          async () => ((await call('GET', `/search?q=${word}`)).body as unknown as Json[]).length === 1,
          { timeoutMs: PROJECTION_BOUND_MS, what: 'search to show the new product' },
        )
        // Once read, the product is in L2: change it there and in search, where no write of the shop did.
        await waitFor(
          async () => (await call('GET', `/products/${id}`)).status === 200 && backdoor!.diverge(id),
          { what: 'the L2 entry to change' },
        )
        const planted = Date.now()
        // A manual run joins one in flight (the schedule's, every 30 s) rather than starting: run until one
        // began after the plant. Any run may have found the divergence; the history holds each one.
        await waitFor(async () => Date.parse((await check(token, { budget: 10_000 })).startedAt) >= planted, {
          timeoutMs: 60_000,
          what: 'a check begun after the plant',
        })
        const history = (await (
          await fetch(`${demo.baseUrl}/admin/consistency/history`, {
            headers: { authorization: `Bearer ${token}` },
          })
        ).json()) as (Json & { divergences: Json[] })[]
        const found = history
          .flatMap((report) => report.divergences)
          .filter((d) => d.key === String(id))
          .map(({ copy, kind, fields, repaired }) => ({ copy, kind, fields, repaired }))
          .sort((a, b) => String(a.copy).localeCompare(String(b.copy)))
        expect(found).toEqual([
          { copy: 'products:l2', kind: 'value', fields: ['price'], repaired: true },
          { copy: 'search', kind: 'value', fields: ['price'], repaired: true },
        ])
        // Counted: every divergence any run found was repaired, and this one is among the counts.
        const total = (field: string) => history.reduce((n, r) => n + (r[field] as number), 0)
        expect(total('inconsistent')).toBeGreaterThanOrEqual(2)
        expect(total('repaired')).toBe(total('inconsistent'))
        // Repaired for real: nothing left to find, and the shop answers the true price everywhere.
        expect(await check(token, { budget: 10_000, repair: false })).toMatchObject({
          inconsistent: 0,
          errors: 0,
        })
        expect((await call('GET', `/products/${id}`)).body.price).toBe(12)
        expect((await call('GET', `/search?q=${word}`)).body).toEqual([
          { id, name: `${word} vase`, price: 12, version: 1 },
        ])
      },
      90_000,
    )

    it('keeps the internal routes out of reach of paths with dot segments', async () => {
      // Sent as is (fetch would resolve the dots itself): a gateway that routed on the raw path forwarded these.
      const { hostname, port } = new URL(demo.baseUrl)
      const raw = (path: string) =>
        new Promise<number>((resolve, reject) => {
          const req = httpRequest({ host: hostname, port, path, method: 'GET' }, (res) => {
            res.resume()
            resolve(res.statusCode ?? 0)
          })
          req.on('error', reject)
          req.end()
        })
      expect(await raw('/products/3')).toBe(200)
      for (const path of [
        '/products/../internal/stats',
        '/products/%2e%2e/internal/stats',
        '/members/../internal/stats',
      ]) {
        expect(await raw(path)).toBe(404)
      }
    })

    it('answers 404 for unknown ids and 400 for an instance of another service', async () => {
      expect((await call('GET', '/products/999999')).status).toBe(404)
      expect((await call('PUT', '/products/999999', { price: 1 })).status).toBe(404)
      expect((await call('GET', '/members/999999')).status).toBe(404)
      expect((await call('GET', '/orders/01890a5d-ac96-774b-bcce-b302099a8057')).status).toBe(404)
      expect(
        (await call('POST', '/orders', { memberId: 999999, productId: 3, quantity: 1, points: 0 })).status,
      ).toBe(404)
      expect(
        (await call('POST', '/orders', { memberId: 3, productId: 999999, quantity: 1, points: 0 })).status,
      ).toBe(404)
      expect((await call('GET', '/products/3', undefined, { instance: 'order-1' })).status).toBe(400)
    })
  })
}
