import { once } from 'node:events'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type PartitionProxy, startPartitionProxy } from '../support/services/partition-proxy.js'
import { sleep, waitFor } from '../support/wait.js'

/** A plain TCP server that records what each connection sent and keeps its sockets to answer on. */
async function recorder() {
  const sockets: Socket[] = []
  const received: string[] = []
  const server: Server = createServer((socket) => {
    sockets.push(socket)
    socket.on('error', () => undefined)
    socket.on('data', (chunk) => received.push(chunk.toString()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    sockets,
    text: () => received.join(''),
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}

async function client(proxy: PartitionProxy) {
  const socket = netConnect(proxy.port, '127.0.0.1')
  const received: string[] = []
  const errors: string[] = []
  socket.on('data', (chunk) => received.push(chunk.toString()))
  socket.on('error', (error: NodeJS.ErrnoException) => errors.push(error.code ?? error.message))
  await once(socket, 'connect')
  return { socket, text: () => received.join(''), errors }
}

/** Resolves on 'close' (events.once would reject on the 'error' that comes first with a reset). */
const closeOf = (socket: Socket) => new Promise((resolve) => socket.once('close', resolve))

describe('partition proxy', () => {
  const closers: (() => Promise<unknown>)[] = []
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close()
  })
  async function setup() {
    const server = await recorder()
    closers.push(server.close)
    const proxy = await startPartitionProxy({ host: '127.0.0.1', port: server.port })
    closers.push(proxy.close)
    const c = await client(proxy)
    closers.push(async () => c.socket.destroy())
    await waitFor(() => server.sockets.length === 1, { what: 'upstream connection' })
    return { server, proxy, c, upstream: server.sockets[0]! }
  }

  it('forwards both ways in pass mode', async () => {
    const { server, c, upstream, proxy } = await setup()
    c.socket.write('ping')
    await waitFor(() => server.text() === 'ping', { what: 'ping upstream' })
    upstream.write('pong')
    await waitFor(() => c.text() === 'pong', { what: 'pong downstream' })
    expect(proxy.connections).toEqual({ open: 1, accepted: 1 })
  })

  it('blackholes one direction: nothing goes up, replies still come down; the heal delivers in order', async () => {
    const { server, c, upstream, proxy } = await setup()
    proxy.set('blackhole', { direction: 'up' })
    expect(proxy.mode).toEqual({ up: 'blackhole', down: 'pass' })
    c.socket.write('held-1;')
    await sleep(50)
    c.socket.write('held-2;')
    // The other direction still flows, and after it did, the up chunks written before it are still held.
    upstream.write('down-ok')
    await waitFor(() => c.text() === 'down-ok', { what: 'down direction flows' })
    await sleep(100)
    expect(server.text()).toBe('')
    expect(c.errors).toEqual([])
    proxy.heal()
    c.socket.write('after;')
    await waitFor(() => server.text().length >= 'held-1;held-2;after;'.length, { what: 'held chunks' })
    expect(server.text()).toBe('held-1;held-2;after;')
  })

  it('blackholes both ways without closing anything, and holds a close behind the held bytes', async () => {
    const { server, c, upstream, proxy } = await setup()
    proxy.set('blackhole')
    upstream.write('reply')
    c.socket.write('request')
    await sleep(150)
    expect(server.text()).toBe('')
    expect(c.text()).toBe('')
    proxy.heal()
    await waitFor(() => server.text() === 'request' && c.text() === 'reply', { what: 'held bytes' })
    proxy.set('blackhole')
    c.socket.write('last')
    c.socket.destroy()
    await sleep(150)
    expect(upstream.readyState).toBe('open')
    const upstreamClosed = closeOf(upstream)
    proxy.heal()
    await upstreamClosed
    expect(server.text()).toBe('requestlast')
  })

  it('resets: open connections get an RST, new ones are refused until the heal', async () => {
    const { server, proxy, c } = await setup()
    const closed = closeOf(c.socket)
    proxy.set('reset')
    await closed
    expect(c.errors).toEqual(['ECONNRESET'])
    expect(proxy.connections.open).toBe(0)
    const refused = netConnect(proxy.port, '127.0.0.1')
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => refused.on('error', resolve))
    expect(error.code).toBe('ECONNRESET')
    expect(() => proxy.set('reset', { direction: 'up' })).toThrow(/whole link/)
    proxy.heal()
    const again = await client(proxy)
    closers.push(async () => again.socket.destroy())
    again.socket.write('back')
    await waitFor(() => server.text() === 'back', { what: 'a new connection after the heal' })
    expect(proxy.connections.accepted).toBe(3)
  })

  it('slows one direction by the delay and keeps the byte order when the delay drops', async () => {
    const { server, c, upstream, proxy } = await setup()
    proxy.set('slow', { direction: 'up', delayMs: 200 })
    const t0 = performance.now()
    c.socket.write('first;')
    upstream.write('fast')
    await waitFor(() => c.text() === 'fast', { what: 'down direction unslowed' })
    expect(performance.now() - t0).toBeLessThan(200)
    await sleep(20)
    proxy.set('pass', { direction: 'up' }) // the heal, while 'first;' still waits out its 200 ms
    c.socket.write('second;')
    await waitFor(() => server.text().length >= 13, { what: 'both chunks' })
    expect(server.text()).toBe('first;second;')
    expect(performance.now() - t0).toBeGreaterThanOrEqual(195)
    expect(() => proxy.set('slow')).toThrow(/delayMs/)
  })

  it('closes the client side when the server goes away', async () => {
    const { c, upstream } = await setup()
    const closed = closeOf(c.socket)
    upstream.destroy()
    await closed
    expect(c.socket.destroyed).toBe(true)
  })
})
