import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { History } from '../../scripts/verify/history.js'
import { runWorkload } from '../../scripts/verify/workload.js'

/** A stand-in for the shop's gateway: products with versions, answering the headers verify reads. */
function fakeShop(): Server {
  const versions = new Map<number, number>()
  let lsn = 0x1000
  return createServer((request, response) => {
    const id = Number(request.url?.split('/')[2]?.split('?')[0])
    response.setHeader('content-type', 'application/json')
    response.setHeader('x-concord-instance', String(request.headers['x-instance'] ?? 'product-1'))
    request.resume()
    request.on('end', () => {
      if (request.url?.startsWith('/orders')) {
        response.statusCode = 201
        response.end(JSON.stringify({ id: 'o1', status: 'CONFIRMED' }))
        return
      }
      if (request.method === 'PUT') {
        versions.set(id, (versions.get(id) ?? 1) + 1)
        lsn += 16
        response.setHeader('x-concord-lsn', `0/${lsn.toString(16)}`)
      } else if (request.method === 'GET') {
        response.setHeader('x-concord-source', 'replica')
        response.setHeader('x-concord-lsn', `0/${lsn.toString(16)}`)
      }
      response.statusCode = request.method === 'POST' ? 201 : 200
      response.end(JSON.stringify({ id: id || 500, version: versions.get(id) ?? 1 }))
    })
  })
}

describe('verify workload pacing', () => {
  let server: Server
  let baseUrl: string
  beforeAll(async () => {
    server = fakeShop()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  const drive = async (rate: 'max' | number, ms: number) => {
    const history = new History()
    const stop = new AbortController()
    const load = runWorkload({
      baseUrl,
      productInstances: ['product-1', 'product-2'],
      orderInstances: ['order-1'],
      clients: 4,
      products: 20,
      members: 10,
      seed: 1,
      signal: stop.signal,
      history,
      rate,
    })
    const started = performance.now()
    await new Promise((resolve) => setTimeout(resolve, ms))
    stop.abort()
    await load.done
    return { history, counters: load.counters, elapsedMs: performance.now() - started }
  }

  it('paces clients to a target rate of product operations per second', async () => {
    const { counters, elapsedMs } = await drive(100, 1500)
    const ops = counters.reads + counters.writes + counters.inserts + counters.deletes
    // Unpaced, four clients on loopback make thousands of calls in 1.5 s; at 100/s, about 150 (the bound follows
    // the time the run really took, so a late timer on a loaded machine does not fail it).
    expect(ops).toBeLessThanOrEqual((100 * elapsedMs) / 1000 + 20)
    expect(ops).toBeGreaterThan(20)
  })

  it('records the LSN each write committed at and each replica fill read at', async () => {
    const { history } = await drive('max', 500)
    const writes = history.ops.filter((o) => o.kind === 'write' && o.ok)
    expect(writes.length).toBeGreaterThan(0)
    for (const w of writes) expect(w.lsn).toMatch(/^0\/[0-9a-f]+$/)
    expect(history.stream.counts.replicaFills).toBeGreaterThan(0)
    expect(history.stream.replicaWithoutLsn).toEqual([])
  })
})
