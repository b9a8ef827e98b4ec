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
    // A TCP stream never reorders its bytes, so neither may the proxy: each chunk leaves no earlier than the one
    // before it. Without this, the chunks that arrive just after the delay drops to 0 overtook those still
    // waiting out the old delay, and Redis replies reached the wrong commands (a read answered with another
    // read's older value, entries of "unknown format") - an artefact of the tool that looked like stale reads.
    const queue: { due: number; act: () => void }[] = []
    let timer: NodeJS.Timeout | undefined
    const pump = () => {
      timer = undefined
      while (queue.length > 0 && queue[0]!.due <= performance.now()) queue.shift()!.act()
      if (queue.length > 0) timer = setTimeout(pump, Math.max(1, queue[0]!.due - performance.now()))
    }
    const send = (act: () => void) => {
      if (delay === 0 && queue.length === 0) return act()
      // FIFO: a chunk is due no earlier than the one queued before it.
      const due = Math.max(performance.now() + delay, queue.at(-1)?.due ?? 0)
      queue.push({ due, act })
      if (timer === undefined) timer = setTimeout(pump, Math.max(1, due - performance.now()))
    }
    from.on('data', (chunk) => send(() => to.writable && to.write(chunk)))
    from.on('close', () => send(() => to.destroy()))
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
