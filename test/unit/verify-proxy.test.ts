import { createServer, connect as netConnect, type Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startDelayProxy } from '../../scripts/verify/proxy.js'
import { waitFor } from '../support/wait.js'

// verify's latency fault slows the link to Redis and then heals it. A TCP stream never reorders its bytes: the
// proxy must not either, or replies reach the wrong commands (it did, and it looked like stale reads).
describe('verify delay proxy', () => {
  let server: Server | undefined
  afterEach(() => server?.close())

  it('keeps the byte order when the delay drops while chunks are still held back', async () => {
    const received: string[] = []
    server = createServer((socket) => socket.on('data', (chunk) => received.push(chunk.toString())))
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const proxy = await startDelayProxy({ host: '127.0.0.1', port })
    const client = netConnect(proxy.port, '127.0.0.1')
    await new Promise((resolve) => client.once('connect', resolve))
    proxy.setDelay(200)
    client.write('first;')
    await new Promise((resolve) => setTimeout(resolve, 20))
    proxy.setDelay(0) // the heal, while 'first;' still waits out its 200 ms
    client.write('second;')
    await waitFor(() => received.join('') === 'first;second;' || received.join('').length >= 13, {
      timeoutMs: 5_000,
      what: 'both chunks',
    })
    expect(received.join('')).toBe('first;second;')
    client.destroy()
    await proxy.close()
  })
})
