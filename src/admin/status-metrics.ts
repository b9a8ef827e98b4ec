import { Gauge, type Registry } from 'prom-client'
import type { ConsistencyStatus } from './status.js'

type Row = [labels: Record<string, string | number>, value: number]

/**
 * Registers gauges for the status sections concord's modules do not export as metrics themselves (replication
 * lag, outbox backlog, sagas by state, broker and bus health, source failures). They read `status()` when
 * Prometheus scrapes, one collection per scrape (shared by every gauge). Cache, checker and convergence
 * metrics come from those modules: pass them the same registry.
 */
export function registerStatusMetrics(registry: Registry, status: () => Promise<ConsistencyStatus>): void {
  // One status per scrape: prom-client collects every metric at once, so the first gauge starts a collection and
  // the others join it; a collection that finished more than 100 ms ago is not reused.
  let current: { done: number | undefined; status: Promise<ConsistencyStatus> } | undefined
  const scrape = () => {
    if (current === undefined || (current.done !== undefined && Date.now() - current.done > 100)) {
      const entry: { done: number | undefined; status: Promise<ConsistencyStatus> } = {
        done: undefined,
        status: status().finally(() => {
          entry.done = Date.now()
        }),
      }
      current = entry
    }
    return current.status
  }
  const gauge = (name: string, help: string, labelNames: string[], rows: (s: ConsistencyStatus) => Row[]) => {
    if (registry.getSingleMetric(name)) return
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        const s = await scrape()
        this.reset()
        for (const [labels, value] of rows(s)) this.set(labels, value)
      },
    })
  }
  const replica = (r: NonNullable<ConsistencyStatus['replicationLag']>[number]) => ({
    shard: r.shard,
    replica: r.replica,
  })
  gauge(
    'concord_replication_lag_seconds',
    'Replica lag behind its primary, in seconds',
    ['shard', 'replica'],
    (s) =>
      (s.replicationLag ?? []).flatMap((r): Row[] =>
        r.lagSeconds === null ? [] : [[replica(r), r.lagSeconds]],
      ),
  )
  gauge(
    'concord_replication_lag_bytes',
    'WAL bytes the replica has not replayed',
    ['shard', 'replica'],
    (s) =>
      (s.replicationLag ?? []).flatMap((r): Row[] => (r.lagBytes === null ? [] : [[replica(r), r.lagBytes]])),
  )
  gauge('concord_replica_healthy', '1 while the replica serves reads', ['shard', 'replica'], (s) =>
    (s.replicationLag ?? []).map((r): Row => [replica(r), r.healthy ? 1 : 0]),
  )
  gauge('concord_outbox_pending', 'Outbox events not yet published', ['shard'], (s) =>
    (s.outbox ?? []).map((o): Row => [{ shard: o.shard }, o.pending]),
  )
  gauge('concord_outbox_oldest_age_seconds', 'Age of the oldest unpublished outbox event', ['shard'], (s) =>
    (s.outbox ?? []).map((o): Row => [{ shard: o.shard }, o.oldestAgeMs / 1000]),
  )
  gauge('concord_outbox_dead_letters', 'Dead-lettered outbox events', ['shard'], (s) =>
    (s.outbox ?? []).map((o): Row => [{ shard: o.shard }, o.deadLetters]),
  )
  gauge('concord_sagas', 'Sagas by state', ['status'], (s) =>
    Object.entries(s.sagas ?? {}).map(([status, n]): Row => [{ status }, n]),
  )
  gauge(
    'concord_change_feed_lag_bytes',
    'WAL a change feed slot retains that is not acknowledged (applied) yet',
    ['slot'],
    (s) => (s.changeFeeds ?? []).map((f): Row => [{ slot: f.slot }, f.lagBytes]),
  )
  gauge(
    'concord_change_feed_lag_seconds',
    'Age of the oldest change a change feed has not applied',
    ['slot'],
    (s) => (s.changeFeeds ?? []).map((f): Row => [{ slot: f.slot }, f.lagSeconds]),
  )
  gauge('concord_change_feed_streaming', '1 while a change feed streams from its slot', ['slot'], (s) =>
    (s.changeFeeds ?? []).map((f): Row => [{ slot: f.slot }, f.state === 'streaming' ? 1 : 0]),
  )
  gauge('concord_broker_connected', '1 while the event broker is connected', [], (s) =>
    s.broker === null ? [] : [[{}, s.broker.connected ? 1 : 0]],
  )
  gauge('concord_bus_healthy', '1 while every cache instance hears the invalidation bus', [], (s) =>
    s.bus === null ? [] : [[{}, s.bus.healthy ? 1 : 0]],
  )
  gauge('concord_admin_source_up', '1 when a status source answered at the last scrape', ['source'], (s) => {
    const sections = {
      replication: s.replicationLag,
      caches: s.caches,
      outbox: s.outbox,
      sagas: s.sagas,
      changeFeeds: s.changeFeeds,
      broker: s.broker,
      checker: s.checker,
      convergence: s.convergence,
    }
    return Object.entries(sections)
      .filter(([n, value]) => value !== null || s.errors[n] !== undefined)
      .map(([n]): Row => [{ source: n }, s.errors[n] === undefined ? 1 : 0])
  })
}
