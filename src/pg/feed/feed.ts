import pg from 'pg'
import type { LogicalReplicationService } from 'pg-logical-replication'
import { ClosedError, InvalidOptionsError } from '../../errors.js'
import { parseOptions } from '../../options.js'
import {
  createFeedApplier,
  FeedSlotBusyError,
  FeedSlotMissingError,
  type FeedTransaction,
  FeedUnavailableError,
} from '../../outbox/kit.js'
import { type PgoutputMessage, TransactionDecoder } from './decode.js'
import { type ChangeFeedOptions, schema } from './options.js'
import { checkWalLevel, dropSlot, ensurePublication, ensureSlot, readSlot } from './slot.js'
import { sendStandbyStatus } from './standby-status.js'

/** Where the feed is: streaming; waiting for the slot another consumer holds; retrying after an error; etc. */
export type ChangeFeedState = 'idle' | 'streaming' | 'waiting' | 'retrying' | 'slot-missing' | 'closed'

/** What `status()` reports: the feed's own counters and the slot as the server sees it. */
export interface ChangeFeedStatus {
  slot: string
  publication: string
  /** `waiting`: another consumer holds the slot; `slot-missing`: a failover or a drop lost it. */
  state: ChangeFeedState
  slotExists: boolean
  /** Whether some consumer (this one or another) streams from the slot now. */
  slotActive: boolean
  /** The server's position, and the slot's `confirmed_flush_lsn` (acknowledged: applied). */
  currentLsn?: string
  confirmedLsn?: string
  /** WAL the slot retains that is not acknowledged yet. */
  lagBytes: number
  /** Age of the oldest unapplied change (or, with no consumer, since the last acknowledgement). */
  lagSeconds: number
  /** Commit LSN of the last transaction applied. */
  appliedLsn?: string
  /** Received and not applied yet. */
  pending: number
  transactions: number
  invalidated: number
  deduped: number
  events: number
  lastError?: string
}

/** A change feed on one shard primary's WAL (logical replication): see `createChangeFeed`. */
export interface ChangeFeed {
  /**
   * Checks the server (wal_level), creates the publication and slot when missing, and starts streaming in the
   * background; resolves once streaming, or once another consumer was found holding the slot (this one then
   * waits and takes over when it lets go).
   * @throws FeedUnavailableError when the server has no logical decoding, or pg-logical-replication is missing.
   * @throws FeedSlotMissingError with `createSlot: false` and no slot.
   */
  start(): Promise<void>
  /** The feed's counters and its slot's lag (bytes and seconds), read from the server. */
  status(): Promise<ChangeFeedStatus>
  /** Stops streaming; the slot stays (and retains WAL) for the next start. */
  close(): Promise<void>
  /** Stops streaming and drops the slot and the publication. */
  drop(): Promise<void>
}

const BUSY = /replication slot "[^"]+" is active for PID (\d+)/

/**
 * A change feed on one shard primary's WAL (logical replication, `pgoutput`): every committed change to the
 * mapped tables, by any writer, invalidates its cache keys at the commit's LSN and publishes its events, in
 * commit order, and is acknowledged to the slot only once applied: a crash replays, never loses (at least once).
 */
export function createChangeFeed(options: ChangeFeedOptions): ChangeFeed {
  const o = parseOptions('createChangeFeed', schema, options)
  const tables = Object.fromEntries(
    Object.entries(o.tables).map(([name, mapping]) => [
      name.includes('.') ? name : `public.${name}`,
      mapping,
    ]),
  )
  const issues = Object.entries(tables).flatMap(([table, m]) => [
    ...(m.cache !== undefined && !o.caches[m.cache]
      ? [{ option: `tables.${table}.cache`, message: 'names no cache in caches', value: m.cache }]
      : []),
    ...(m.events && !o.broker
      ? [{ option: 'broker', message: `table ${table} maps events`, value: undefined }]
      : []),
  ])
  if (issues.length > 0) throw new InvalidOptionsError('createChangeFeed', issues)
  const slot = o.slot
  const publication = o.publication ?? slot
  const connection: pg.ClientConfig = {
    ...(o.connectionString !== undefined && { connectionString: o.connectionString }),
    ...(o.host !== undefined && { host: o.host }),
    ...(o.port !== undefined && { port: o.port }),
    ...(o.user !== undefined && { user: o.user }),
    ...(o.password !== undefined && { password: o.password }),
    ...(o.database !== undefined && { database: o.database }),
    ...(o.ssl !== undefined && { ssl: o.ssl as pg.ClientConfig['ssl'] }),
    application_name: o.applicationName,
  }
  const sql = new pg.Pool({ ...connection, max: 1, idleTimeoutMillis: 10_000 })
  sql.on('error', () => {}) // an idle connection dropped: the next query opens another
  const applier = createFeedApplier({
    caches: o.caches,
    tables,
    ...(o.broker && { broker: o.broker }),
    dedup: o.dedup,
    source: slot,
  })
  const onError = o.onError ?? ((error: unknown) => console.warn(`concord change feed ${slot}:`, error))
  const decoder = new TransactionDecoder()

  let state: ChangeFeedState = 'idle'
  let closed = false
  let started: Promise<void> | undefined
  let loop: Promise<void> | undefined
  let service: LogicalReplicationService | undefined
  let wake: (() => void) | undefined
  const pending: FeedTransaction[] = []
  let applying: Promise<void> | undefined
  let paused = false
  let attachedOnce = false
  let lastAckAt = Date.now()
  let appliedLsn: string | undefined
  let lastError: string | undefined
  const counters = { transactions: 0, invalidated: 0, deduped: 0, events: 0 }

  const report = (error: unknown) => {
    lastError = (error as Error)?.message ?? String(error)
    onError(error)
  }
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  // The same hook the library's own flow control uses: the socket under the replication connection.
  const stream = () =>
    (service as unknown as { _connection?: { stream?: { pause?(): void; resume?(): void } } })?._connection
      ?.stream

  const acknowledge = (lsn: string) => {
    const connection = (service as unknown as { _connection?: { sendCopyFromChunk(b: Buffer): void } })
      ?._connection
    if (connection) sendStandbyStatus(connection, lsn)
    lastAckAt = Date.now()
  }

  /** Applies the received transactions in order, batch by batch, each retried until it applies, then acknowledged. */
  const drain = (): Promise<void> => {
    applying ??= (async () => {
      while (pending.length > 0 && !closed) {
        const batch = pending.slice(0, o.maxBatch)
        for (let attempt = 1; ; attempt++) {
          try {
            await o.beforeApply?.(batch)
            const applied = await applier.apply(batch)
            counters.invalidated += applied.invalidated
            counters.deduped += applied.deduped
            counters.events += applied.events
            break
          } catch (error) {
            report(error)
            if (closed) return
            await sleep(Math.min(o.maxBackoff, 50 * 2 ** Math.min(attempt, 10)))
          }
        }
        pending.splice(0, batch.length)
        counters.transactions += batch.length
        appliedLsn = batch[batch.length - 1]!.lsn
        acknowledge(appliedLsn)
        if (paused && pending.length <= o.maxPending / 2) {
          paused = false
          stream()?.resume?.()
        }
      }
    })().finally(() => {
      applying = undefined
      if (pending.length > 0 && !closed) void drain()
    })
    return applying
  }

  const onData = (_lsn: string, message: PgoutputMessage) => {
    const txn = decoder.read(message)
    if (!txn) return
    pending.push(txn)
    if (pending.length >= o.maxPending && !paused) {
      paused = true
      stream()?.pause?.()
    }
    void drain()
  }

  const onHeartbeat = (lsn: string, _time: number, shouldRespond: boolean) => {
    // Nothing received is unapplied: the server's position can be acknowledged, so WAL of other tables and
    // databases does not pile up behind the slot while the mapped tables are quiet.
    if (!decoder.inTransaction && pending.length === 0 && !applying) acknowledge(lsn)
    else if (shouldRespond && appliedLsn) acknowledge(appliedLsn)
  }

  /** One attachment to the slot: resolves when the stream ends (close, connection lost). */
  const attach = async (ready: () => void): Promise<void> => {
    const { LogicalReplicationService: Service, PgoutputPlugin } = await loadPeer()
    decoder.reset()
    pending.length = 0
    const current = new Service(connection, {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      flowControl: { enabled: false },
    })
    service = current
    current.on('data', onData as (lsn: string, log: unknown) => void)
    current.on('heartbeat', onHeartbeat)
    current.on('error', () => {}) // the subscribe promise below rejects with the same error
    current.on('start', () => {
      state = 'streaming'
      attachedOnce = true
      lastError = undefined
      ready()
    })
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] })
    try {
      await current.subscribe(plugin, slot)
      if (!closed) throw new Error('replication stream ended')
    } finally {
      await current.destroy().catch(() => {})
      if (service === current) service = undefined
    }
  }

  const run = async (ready: () => void): Promise<void> => {
    while (!closed) {
      try {
        // A slot lost since (a failover to a replica): reported, not silently recreated (see FeedSlotMissingError).
        if (attachedOnce || state !== 'idle') await ensureSlot(sql, slot, false)
        await attach(ready)
      } catch (error) {
        if (closed) break
        const busy = BUSY.exec((error as Error)?.message ?? '')
        if (busy) {
          state = 'waiting'
          report(new FeedSlotBusyError(slot, Number(busy[1]), error))
        } else if (error instanceof FeedSlotMissingError) {
          state = 'slot-missing'
          report(error)
        } else {
          state = 'retrying'
          report(error)
        }
        ready()
      }
      if (applying) await applying
      if (!closed) await sleep(o.retryInterval)
    }
  }

  /** Ends the stream and waits for the loop and any batch in flight (it is not acknowledged if cut short). */
  const stopStreaming = async () => {
    if (closed) return
    closed = true
    state = 'closed'
    wake?.()
    await service?.stop().catch(() => {})
    await loop?.catch(() => {})
    await applying?.catch(() => {})
  }
  let sqlEnded = false
  const endSql = async () => {
    if (sqlEnded) return
    sqlEnded = true
    await sql.end().catch(() => {})
  }

  return {
    start() {
      if (closed) return Promise.reject(new ClosedError(`change feed ${slot}`))
      started ??= (async () => {
        await loadPeer()
        await checkWalLevel(sql)
        await ensurePublication(sql, publication, Object.keys(tables))
        await ensureSlot(sql, slot, o.createSlot)
        await new Promise<void>((resolve) => {
          loop = run(resolve)
        })
      })()
      return started
    },

    async status() {
      const row = sqlEnded ? undefined : await readSlot(sql, slot).catch(() => undefined)
      const lagBytes = row?.lagBytes ?? 0
      const oldest = pending[0]?.commitTime.getTime()
      const lagSeconds =
        oldest !== undefined
          ? (Date.now() - oldest) / 1000
          : lagBytes > 0 && state !== 'streaming'
            ? (Date.now() - lastAckAt) / 1000
            : 0
      const status: ChangeFeedStatus = {
        slot,
        publication,
        state,
        slotExists: row !== undefined,
        slotActive: row?.active ?? false,
        lagBytes,
        lagSeconds,
        pending: pending.length,
        ...counters,
      }
      if (row?.currentLsn) status.currentLsn = row.currentLsn
      if (row?.confirmedLsn) status.confirmedLsn = row.confirmedLsn
      if (appliedLsn) status.appliedLsn = appliedLsn
      if (lastError) status.lastError = lastError
      return status
    },

    async close() {
      await stopStreaming()
      await endSql()
    },

    async drop() {
      await stopStreaming()
      // After close() the feed's own pool is ended: a short-lived one drops the slot.
      const q = sqlEnded ? new pg.Pool({ ...connection, max: 1 }) : sql
      try {
        await dropSlot(q, slot, publication)
      } finally {
        if (q !== sql) await q.end().catch(() => {})
        await endSql()
      }
    },
  }
}

type Peer = typeof import('pg-logical-replication')

/** pg-logical-replication is an optional peer: loaded only by a feed's start, with a clear error when absent. */
async function loadPeer(): Promise<Peer> {
  try {
    const mod = (await import('pg-logical-replication')) as Peer & { default?: Peer }
    return mod.LogicalReplicationService ? mod : mod.default!
  } catch (cause) {
    throw new FeedUnavailableError(
      'the optional peer pg-logical-replication is not installed: npm install pg-logical-replication',
      {
        cause: String(cause),
      },
    )
  }
}
