import pg from 'pg'
import { quoteChannel } from '../db/kit.js'

/**
 * LISTEN for one node on one dedicated connection (not a pooled one: a pooled connection would drop its
 * LISTENs when it goes back to the pool). When the connection breaks it reconnects with backoff and
 * LISTENs again; notifications sent while it was down are lost, so a consumer must also poll.
 */
export class PgListener {
  private client: pg.ClientBase | null = null
  private connecting: Promise<pg.ClientBase> | null = null
  private readonly channels = new Map<string, Set<(payload: string) => void>>()
  private closed = false
  private backoff = 100
  private timer: NodeJS.Timeout | null = null

  /**
   * `source`: the settings of a new client, or the application's pool, of which the listener then keeps one
   * client checked out (and destroys it instead of returning it, LISTENs and all, to the pool).
   */
  constructor(private readonly source: pg.ClientConfig | { pool: pg.Pool }) {}

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const quoted = quoteChannel(channel)
    let callbacks = this.channels.get(channel)
    if (!callbacks) {
      callbacks = new Set()
      this.channels.set(channel, callbacks)
      try {
        const client = await this.connect()
        await client.query(`LISTEN ${quoted}`)
      } catch (error) {
        this.channels.delete(channel)
        throw error
      }
    }
    callbacks.add(onNotify)
    return async () => {
      const set = this.channels.get(channel)
      if (!set?.delete(onNotify) || set.size > 0) return
      this.channels.delete(channel)
      await this.client?.query(`UNLISTEN ${quoteChannel(channel)}`).catch(() => {})
    }
  }

  async close(): Promise<void> {
    this.closed = true
    if (this.timer) clearTimeout(this.timer)
    const client = this.client ?? (await this.connecting?.catch(() => null))
    this.client = null
    if (client) await this.end(client)
  }

  private async end(client: pg.ClientBase): Promise<void> {
    if ('release' in client) (client as pg.PoolClient).release(true)
    else await (client as pg.Client).end().catch(() => {})
  }

  private connect(): Promise<pg.ClientBase> {
    if (this.client) return Promise.resolve(this.client)
    this.connecting ??= this.open().finally(() => {
      this.connecting = null
    })
    return this.connecting
  }

  private async open(): Promise<pg.ClientBase> {
    const pooled = 'pool' in this.source ? await this.source.pool.connect() : null
    const client: pg.ClientBase = pooled ?? new pg.Client(this.source as pg.ClientConfig)
    client.on('notification', (message) => {
      for (const callback of this.channels.get(message.channel) ?? []) callback(message.payload ?? '')
    })
    client.on('error', () => this.lost(client))
    client.on('end', () => this.lost(client))
    if (!pooled) await client.connect()
    for (const channel of this.channels.keys()) await client.query(`LISTEN ${quoteChannel(channel)}`)
    this.client = client
    this.backoff = 100
    return client
  }

  private lost(client: pg.ClientBase): void {
    if (this.client !== client) return
    this.client = null
    void this.end(client)
    this.retry()
  }

  private retry(): void {
    if (this.closed || this.channels.size === 0 || this.timer) return
    this.timer = setTimeout(() => {
      this.timer = null
      this.connect().catch(() => {
        this.backoff = Math.min(this.backoff * 2, 5000)
        this.retry()
      })
    }, this.backoff)
    this.timer.unref()
  }
}
