import { connect, createServer, type Server, type Socket } from 'node:net'

/** A TCP proxy with an injectable one-way delay per chunk, for "latency between the services and Redis". */
export interface DelayProxy {
  readonly port: number
  /** Delay (ms) added to every chunk in both directions; 0 forwards at once. */
  setDelay(ms: number): void
  close(): Promise<void>
}

/**
 * Listens on a free loopback port and forwards to `target`. When the target closes (Redis killed), the
 * client side is closed too, so the services see the outage as they would without the proxy.
 */
export async function startDelayProxy(target: { host: string; port: number }): Promise<DelayProxy> {
  let delay = 0
  const sockets = new Set<Socket>()
  const pipe = (from: Socket, to: Socket) => {
    from.on('data', (chunk) => {
      // Order is kept: timers of equal delay fire in the order they were set.
      if (delay === 0) to.write(chunk)
      else setTimeout(() => to.writable && to.write(chunk), delay)
    })
    from.on('close', () => setTimeout(() => to.destroy(), delay))
    from.on('error', () => to.destroy())
  }
  const server: Server = createServer((client) => {
    const upstream = connect(target)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
    }
    pipe(client, upstream)
    pipe(upstream, client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  return {
    port: (server.address() as { port: number }).port,
    setDelay(ms) {
      delay = ms
    },
    async close() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
