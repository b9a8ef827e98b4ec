import { connect, createServer, type Server, type Socket } from 'node:net'

/**
 * What a link does to its bytes, per direction:
 * - `pass`: forwards at once;
 * - `blackhole`: reads and forwards nothing (no error, no close: the peer just hears nothing). What was read is
 *   held and delivered, in order, when the direction heals, as TCP's retransmissions would deliver it after a
 *   partition shorter than its give-up time; a close read meanwhile is held behind it too;
 * - `slow`: forwards each chunk `delayMs` later.
 * `reset` is a state of the whole link: every connection is destroyed with an RST (both sides) and new ones are
 * accepted and reset at once, until the mode changes.
 */
export type LinkMode = 'pass' | 'blackhole' | 'reset' | 'slow'
/** `up`: client -> server; `down`: server -> client. */
export type LinkDirection = 'up' | 'down' | 'both'

export interface PartitionProxy {
  readonly host: string
  readonly port: number
  /** Sets the mode of one direction or both (the default). `delayMs` is for `slow`. */
  set(mode: LinkMode, options?: { direction?: LinkDirection; delayMs?: number }): void
  /** Back to `pass` both ways; what a blackhole held is delivered. */
  heal(): void
  /** Each direction's mode now. */
  readonly mode: { up: LinkMode; down: LinkMode }
  /** Connections open through the proxy now, and accepted in total. */
  readonly connections: { open: number; accepted: number }
  /** Stops listening and destroys every connection. */
  close(): Promise<void>
}

interface DirectionState {
  mode: LinkMode
  delayMs: number
}

/**
 * One direction of one connection: a FIFO of actions (write a chunk, or close), each with a due time. A TCP stream
 * never reorders its bytes, so neither may the proxy: each chunk leaves no earlier than the one before it
 * (without this, chunks sent just after a delay dropped to 0 overtook those still waiting out the old delay, and
 * Redis replies reached the wrong commands - an artefact of the tool that looked like stale reads).
 */
class Pipe {
  private readonly queue: { due: number; act: () => void }[] = []
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly state: DirectionState) {}

  send(act: () => void): void {
    const { mode, delayMs } = this.state
    if (mode === 'pass' && this.queue.length === 0) {
      act()
      return
    }
    const delay = mode === 'slow' ? delayMs : 0
    this.queue.push({ due: Math.max(performance.now() + delay, this.queue.at(-1)?.due ?? 0), act })
    this.schedule()
  }

  /** The direction's mode changed: held actions may go now. */
  wake(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.pump()
  }

  clear(): void {
    this.queue.length = 0
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private readonly pump = (): void => {
    this.timer = undefined
    if (this.state.mode === 'blackhole' || this.state.mode === 'reset') return
    while (this.queue.length > 0 && this.queue[0]!.due <= performance.now()) this.queue.shift()!.act()
    this.schedule()
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return
    if (this.state.mode === 'blackhole' || this.state.mode === 'reset') return
    this.timer = setTimeout(this.pump, Math.max(1, this.queue[0]!.due - performance.now()))
  }
}

/**
 * A TCP proxy under a test's control, between a client and one server (Redis, PostgreSQL, NATS): listens on a
 * free loopback port, forwards to `target`, and can blackhole, reset or slow the link, one way or both,
 * switched at any time. When the target closes (a server killed), the client side is closed too, so clients see
 * the outage as they would without the proxy.
 */
export async function startPartitionProxy(target: { host: string; port: number }): Promise<PartitionProxy> {
  const up: DirectionState = { mode: 'pass', delayMs: 0 }
  const down: DirectionState = { mode: 'pass', delayMs: 0 }
  const links = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>()
  let accepted = 0

  const resetAll = () => {
    for (const link of links) {
      for (const pipe of link.pipes) pipe.clear()
      link.client.resetAndDestroy()
      link.upstream.resetAndDestroy()
    }
    links.clear()
  }

  const server: Server = createServer((client) => {
    accepted++
    client.on('error', () => undefined)
    if (up.mode === 'reset' || down.mode === 'reset') {
      client.resetAndDestroy()
      return
    }
    const upstream = connect(target)
    upstream.on('error', () => undefined)
    const pipes = [new Pipe(up), new Pipe(down)]
    const link = { client, upstream, pipes }
    links.add(link)
    const forward = (from: Socket, to: Socket, pipe: Pipe) => {
      from.on('data', (chunk) => pipe.send(() => to.writable && to.write(chunk)))
      from.on('close', () => pipe.send(() => to.destroy()))
    }
    forward(client, upstream, pipes[0]!)
    forward(upstream, client, pipes[1]!)
    const closed = () => {
      if (client.destroyed && upstream.destroyed) links.delete(link)
    }
    client.on('close', closed)
    upstream.on('close', closed)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })

  const wakeAll = () => {
    for (const link of links) for (const pipe of link.pipes) pipe.wake()
  }

  const set: PartitionProxy['set'] = (mode, options = {}) => {
    const direction = options.direction ?? 'both'
    if (mode === 'slow' && !(options.delayMs !== undefined && options.delayMs >= 0))
      throw new Error('partition proxy: slow needs delayMs >= 0')
    if (mode === 'reset' && direction !== 'both')
      throw new Error('partition proxy: reset is a state of the whole link (direction both)')
    for (const state of direction === 'both' ? [up, down] : direction === 'up' ? [up] : [down]) {
      state.mode = mode
      state.delayMs = options.delayMs ?? 0
    }
    if (mode === 'reset') resetAll()
    else wakeAll()
  }

  return {
    host: '127.0.0.1',
    port: (server.address() as { port: number }).port,
    set,
    heal: () => set('pass'),
    get mode() {
      return { up: up.mode, down: down.mode }
    },
    get connections() {
      return { open: links.size, accepted }
    },
    async close() {
      for (const link of links) {
        for (const pipe of link.pipes) pipe.clear()
        link.client.destroy()
        link.upstream.destroy()
      }
      links.clear()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
