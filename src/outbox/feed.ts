import { v5 as uuidv5 } from 'uuid'
import type { Broker, EventEnvelope } from '../broker/kit.js'
import { compareLsn } from '../db/kit.js'

/**
 * The part of a change feed that knows nothing of PostgreSQL's wire format: committed row changes, in commit
 * order, become cache invalidations (at the commit's LSN, C4) and outbox-style events. concord/pg's
 * `createChangeFeed` decodes the WAL into `FeedTransaction`s and acknowledges them only after `apply` resolved.
 */

/** One row change as the WAL has it. */
export interface RowChange {
  /** `schema.table`, e.g. `public.products`. */
  table: string
  op: 'insert' | 'update' | 'delete'
  /**
   * The row after the change (insert, update) or what the WAL keeps of the deleted row: its replica identity
   * (the primary key by default; every column with `REPLICA IDENTITY FULL`).
   */
  row: Record<string, unknown>
  /** An update's old replica identity, when the key changed (or every old column with `REPLICA IDENTITY FULL`). */
  old?: Record<string, unknown>
}

/** A committed transaction's changes to the mapped tables. */
export interface FeedTransaction {
  /** The end of its commit record: a replica that replayed this far has the change (C4). */
  lsn: string
  commitTime: Date
  changes: RowChange[]
  /** Tables truncated in it (`schema.table`). */
  truncated?: string[]
}

/** An event for projections, like one a writer adds with `outbox.add`; the feed fills in id, headers, time. */
export interface FeedEventInput {
  aggregateType: string
  aggregateId: string
  aggregateVersion: number
  type: string
  payload: unknown
}

/** How one table's changes reach the caches and projections. */
export interface FeedTableMapping {
  /** The name of the cache (in the feed's `caches`) the keys below belong to. */
  cache?: string
  /**
   * The cache keys a change makes stale. Called with the new row and again with `change.old` when an update
   * moved the key. For a delete, `row` holds only the replica identity (the primary key by default).
   */
  keys?: (row: Record<string, unknown>, change: RowChange) => string[]
  /** Tags to invalidate as well (every key stored with them). */
  tags?: (row: Record<string, unknown>, change: RowChange) => string[]
  /** Events to publish for projections (each carries the commit LSN in its `concord-lsn` header). */
  events?: (change: RowChange) => FeedEventInput[]
}

/** What the feed needs from a cache: concord/cache's `Cache` fits. */
export interface FeedCache {
  /** Drops `keys` everywhere; `lsn` is the change's commit position, so a later fill is replica-safe (C4). */
  invalidate(keys: string[], opts?: { lsn?: string }): Promise<unknown>
  /** Drops every key stored with `tag` (mapped tags). */
  invalidateTag?(tag: string): Promise<unknown>
  /** Drops everything (a TRUNCATE of a mapped table). */
  clear?(): Promise<unknown>
  /** Used to skip keys already invalidated at or past this commit (by the writer or the outbox record). */
  inspect?(key: string): Promise<{ l2?: { lsn?: string } }>
}

export interface FeedApplied {
  /** Keys invalidated (after deduplication). */
  invalidated: number
  /** Keys skipped: L2 already held an invalidation at or past the change's commit LSN. */
  deduped: number
  events: number
}

export interface FeedApplierOptions {
  caches: Record<string, FeedCache>
  /** Keyed by `schema.table`. */
  tables: Record<string, FeedTableMapping>
  broker?: Pick<Broker, 'publish'>
  /** Skip keys whose L2 invalidation is already at or past the commit (one L2 read per key). */
  dedup: boolean
  /** A stable name (the slot's), so a replayed change's events get the same ids and the broker drops them. */
  source: string
}

/** Per cache: the keys to invalidate and the commit LSN of each key's latest change. */
type Plan = Map<string, { keys: Map<string, string>; tags: Set<string>; clear: boolean }>

/** Namespace of the feed's deterministic event ids (a UUIDv5 of source, commit LSN and position). */
const EVENT_ID_NAMESPACE = '6c0b4d5e-8f1a-4c3b-9e2d-7a5f1b0c3d21'

/**
 * Applies committed transactions, in commit order, as a whole batch: every key once, at the batch's last
 * commit LSN (a fill then reads a replica at or past every change in it: stricter, never stale), events in
 * order. Idempotent, so a batch replayed after a crash before its acknowledgement does no harm.
 */
export function createFeedApplier(o: FeedApplierOptions) {
  const plan = (batch: readonly FeedTransaction[]): { plan: Plan; events: Map<string, EventEnvelope[]> } => {
    const plan: Plan = new Map()
    const events = new Map<string, EventEnvelope[]>()
    const entry = (cache: string) => {
      const e = plan.get(cache) ?? { keys: new Map(), tags: new Set<string>(), clear: false }
      plan.set(cache, e)
      return e
    }
    for (const txn of batch) {
      txn.changes.forEach((change, index) => {
        const mapping = o.tables[change.table]
        if (!mapping) return
        if (mapping.cache !== undefined) {
          const target = entry(mapping.cache)
          for (const row of change.old ? [change.row, change.old] : [change.row]) {
            for (const key of mapping.keys?.(row, change) ?? []) target.keys.set(key, txn.lsn)
            for (const tag of mapping.tags?.(row, change) ?? []) target.tags.add(tag)
          }
        }
        for (const event of mapping.events?.(change) ?? []) {
          const envelope: EventEnvelope = {
            ...event,
            id: uuidv5(`${o.source}/${txn.lsn}/${index}/${event.type}`, EVENT_ID_NAMESPACE),
            headers: { 'concord-lsn': txn.lsn, 'concord-source': 'wal' },
            createdAt: txn.commitTime.toISOString(),
          }
          const list = events.get(event.aggregateType) ?? []
          list.push(envelope)
          events.set(event.aggregateType, list)
        }
      })
      for (const table of txn.truncated ?? []) {
        const cache = o.tables[table]?.cache
        if (cache !== undefined) entry(cache).clear = true
      }
    }
    return { plan, events }
  }

  /** The keys L2 does not already hold an invalidation at or past their change for. */
  const fresh = async (cache: FeedCache, keys: Map<string, string>): Promise<string[]> => {
    const inspect = cache.inspect
    if (!o.dedup || !inspect) return [...keys.keys()]
    const checked = await Promise.all(
      [...keys].map(async ([key, lsn]) => {
        const seen = (await inspect.call(cache, key)).l2?.lsn
        return seen !== undefined && compareLsn(seen, lsn) >= 0 ? undefined : key
      }),
    )
    return checked.filter((key): key is string => key !== undefined)
  }

  return {
    /** Resolves once every cache and the broker confirmed; rejects (apply it again) otherwise. */
    async apply(batch: readonly FeedTransaction[]): Promise<FeedApplied> {
      const result: FeedApplied = { invalidated: 0, deduped: 0, events: 0 }
      if (batch.length === 0) return result
      const lsn = batch[batch.length - 1]!.lsn
      const { plan: byCache, events } = plan(batch)
      await Promise.all(
        [...byCache].map(async ([name, { keys, tags, clear }]) => {
          const cache = o.caches[name]
          if (!cache) return // createChangeFeed checked every mapping's cache at start
          if (clear && cache.clear) {
            await cache.clear()
            return
          }
          const todo = await fresh(cache, keys)
          result.deduped += keys.size - todo.length
          result.invalidated += todo.length
          if (todo.length > 0) await cache.invalidate(todo, { lsn })
          if (cache.invalidateTag) for (const tag of tags) await cache.invalidateTag(tag)
        }),
      )
      if (o.broker) {
        for (const [topic, list] of events) {
          await o.broker.publish(topic, list)
          result.events += list.length
        }
      }
      return result
    },
  }
}

export type FeedApplier = ReturnType<typeof createFeedApplier>
