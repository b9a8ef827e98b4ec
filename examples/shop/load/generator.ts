import { progressLine } from './progress.js'

export interface LoadOptions {
  baseUrl: string
  products: number
  members: number
  concurrency: number
  /** Shares of requests that update a price and that place an order; the rest read a product. */
  writeShare: number
  orderShare: number
  signal: AbortSignal
}

type Kind = 'read' | 'write' | 'order'

/**
 * Drives the gateway the way the shop's users would: reads over a hot set of products, price updates,
 * and small orders (both as sagas and by events), through every instance in turn. Shows a live progress
 * line: requests per second by kind, errors, mean latency, orders confirmed and cancelled.
 */
export async function runLoad(options: LoadOptions): Promise<void> {
  const counts = { read: 0, write: 0, order: 0, errors: 0, latencyMs: 0, confirmed: 0, cancelled: 0 }
  const progress = progressLine()
  const started = Date.now()
  const ticker = setInterval(() => {
    const seconds = (Date.now() - started) / 1000
    const total = counts.read + counts.write + counts.order
    progress.update(
      `load: ${total} requests (${Math.round(total / seconds)}/s): ${counts.read} reads, ${counts.write} price ` +
        `updates, ${counts.order} orders (${counts.confirmed} confirmed, ${counts.cancelled} cancelled), ` +
        `${counts.errors} errors, mean ${(counts.latencyMs / Math.max(total, 1)).toFixed(1)} ms`,
    )
  }, 500)

  // A skewed key choice: a few products are hot, as in a real shop.
  const hot = (n: number) => 1 + Math.floor(n * Math.random() ** 3)
  const request = (kind: Kind): [string, RequestInit] => {
    const json = (method: string, body: unknown): RequestInit => ({
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (kind === 'write') {
      const price = Math.round(1000 + Math.random() * 9000) / 100
      return [`/products/${hot(options.products)}`, json('PUT', { price })]
    }
    if (kind === 'order') {
      const mode = Math.random() < 0.5 ? 'saga' : 'events'
      const order = {
        memberId: hot(options.members),
        productId: hot(options.products),
        quantity: 1,
        points: 10,
      }
      return [`/orders?mode=${mode}`, json('POST', order)]
    }
    return [`/products/${hot(options.products)}`, { method: 'GET' }]
  }

  // Each request gets its own timeout signal: one long-lived signal shared by thousands of fetches
  // collects an abort listener per request in undici.
  const worker = async () => {
    while (!options.signal.aborted) {
      const roll = Math.random()
      const kind: Kind =
        roll < options.orderShare
          ? 'order'
          : roll < options.orderShare + options.writeShare
            ? 'write'
            : 'read'
      const [path, init] = request(kind)
      const begin = performance.now()
      try {
        const response = await fetch(options.baseUrl + path, { ...init, signal: AbortSignal.timeout(30_000) })
        const body = (await response.json()) as { status?: string }
        if (response.ok) counts[kind]++
        else counts.errors++
        if (body.status === 'CONFIRMED') counts.confirmed++
        if (body.status === 'CANCELLED') counts.cancelled++
      } catch {
        if (!options.signal.aborted) counts.errors++
      }
      counts.latencyMs += performance.now() - begin
      // Leave room on a small machine for the services themselves.
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  clearInterval(ticker)
  progress.done()
}
