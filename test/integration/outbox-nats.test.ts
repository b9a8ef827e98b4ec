import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Broker, EventEnvelope } from '../../src/broker/index.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import {
  applyIfNewer,
  createInbox,
  createOutbox,
  createRelay,
  outboxMigrations,
  PoisonEventError,
} from '../../src/outbox/index.js'
import { traceIdOf } from '../../src/outbox/trace.js'
import { createPgNode } from '../../src/pg/index.js'
import { outOfOrder } from '../support/outbox-fixtures.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// The whole path on real servers: PostgreSQL shards -> relays -> NATS JetStream -> inbox consumers.
describe('outbox on PostgreSQL and NATS', () => {
  let shards: Shards
  let broker: Broker
  const outbox = createOutbox()

  beforeAll(async () => {
    const pg = sharedServices().postgres
    const dbs = await Promise.all([pg.createDatabase('outbox_nats'), pg.createDatabase('outbox_nats')])
    shards = createShards({
      shards: dbs.map((db) => ({ primary: createPgNode({ connectionString: db.primaryUrl, max: 8 }) })),
    })
    await shards.migrate(outboxMigrations)
    for (let i = 0; i < shards.count; i++) {
      await shards.onShard(i, (tx) =>
        tx.query(
          'CREATE TABLE products_view (id text PRIMARY KEY, version int NOT NULL, name text NOT NULL)',
        ),
      )
    }
    broker = createNatsBroker({ servers: sharedServices().nats.url, prefix: uniqueName('ob') })
  })
  afterAll(async () => {
    await broker?.close()
    await shards?.close()
  })

  it('delivers every committed event once, in order per aggregate, with the writer trace', async () => {
    const relays = [1, 2].map((i) => createRelay({ shards, broker, id: `nats-r${i}`, concurrency: 2 }))
    await Promise.all(relays.map((r) => r.start()))
    const inbox = createInbox({ shards, consumer: 'products-view' })
    const seen: EventEnvelope[] = []
    const traces = new Map<string, string | undefined>()
    const sub = await broker.subscribe('product', 'products-view', async (event) => {
      await inbox.handle(event, async (tx, ev, ctx) => {
        seen.push(ev)
        traces.set(ev.id, traceIdOf(ctx.traceparent))
        await applyIfNewer(tx, {
          table: 'products_view',
          key: { id: ev.aggregateId },
          version: ev.aggregateVersion,
          values: { name: (ev.payload as { name: string }).name },
        })
      })
    })
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    const aggregates = 20
    const versions = 15
    const written: EventEnvelope[] = []
    for (let v = 1; v <= versions; v++) {
      const batch = await Promise.all(
        Array.from({ length: aggregates }, (_, a) =>
          shards.withTransaction(`p${a}`, (tx) =>
            outbox.add(tx, {
              aggregateType: 'product',
              aggregateId: `p${a}`,
              aggregateVersion: v,
              type: 'product.renamed',
              payload: { name: `p${a} v${v}` },
              headers: { traceparent },
            }),
          ),
        ),
      )
      for (const { result } of batch) written.push(...result)
      // A rolled-back write in the middle: never published.
      await shards
        .withTransaction('p0', async (tx) => {
          await outbox.add(tx, {
            aggregateType: 'product',
            aggregateId: 'p0',
            aggregateVersion: 1000 + v,
            type: 'product.renamed',
            payload: { name: 'rolled back' },
          })
          throw new Error('rollback')
        })
        .catch(() => {})
    }
    await waitFor(() => seen.length >= written.length, { timeoutMs: 20_000, what: 'all events consumed' })
    await Promise.all(relays.map((r) => r.close()))
    await sub.close()

    expect(new Set(seen.map((e) => e.id))).toEqual(new Set(written.map((e) => e.id)))
    expect(seen).toHaveLength(written.length) // each effect once
    expect(outOfOrder(seen)).toEqual([])
    expect(seen.some((e) => e.aggregateVersion > 1000)).toBe(false)
    expect(new Set(traces.values())).toEqual(new Set(['4bf92f3577b34da6a3ce929d0e0e4736']))
    const views = await shards.scatter(
      (q) => q.query<{ version: number }>('SELECT version FROM products_view'),
      {
        primary: true,
      },
    )
    expect(views.flatMap((r) => r.rows.map((x) => x.version))).toEqual(Array(aggregates).fill(versions))
  })

  it('dead-letters an event NATS refuses (over max_payload) and keeps the other aggregates flowing', async () => {
    const relay = createRelay({
      shards,
      broker,
      id: 'nats-poison',
      maxAttempts: 2,
      backoff: [50],
      pollInterval: 50,
    })
    const { result: big } = await shards.withTransaction('big', (tx) =>
      outbox.add(tx, [
        {
          aggregateType: 'blob',
          aggregateId: 'big',
          aggregateVersion: 1,
          type: 'blob.put',
          payload: 'x'.repeat(2_000_000),
        },
        {
          aggregateType: 'blob',
          aggregateId: 'big',
          aggregateVersion: 2,
          type: 'blob.put',
          payload: 'small',
        },
      ]),
    )
    await shards.withTransaction('ok', (tx) =>
      outbox.add(tx, {
        aggregateType: 'blob',
        aggregateId: 'ok',
        aggregateVersion: 1,
        type: 'blob.put',
        payload: 'fine',
      }),
    )
    await relay.start()
    const dead = await waitFor(async () => (await relay.deadLetters())[0], {
      timeoutMs: 15_000,
      what: 'dead letter',
    })
    await relay.close()
    expect(dead.event.id).toBe(big[0]!.id)
    // The event's own failure: attempts counted up to maxAttempts, never taken for a broker outage.
    expect(dead.lastError).toMatch(/^E_MESSAGE_REJECTED: .*max_payload/)
    expect(dead.attempts).toBe(2)
    expect(relay.stats()).toMatchObject({ failedAttempts: 2, deadLettered: 1, brokerUnavailable: 0 })
    const status = await relay.status()
    expect(status.reduce((n, s) => n + s.deadLetters, 0)).toBe(1)
    expect(status.reduce((n, s) => n + s.pending, 0)).toBe(1) // big@2 waits behind it; ok@1 went out
    await relay.discard(big[0]!.id)
    expect(await relay.runOnce()).toBe(1)
  })

  it('sends a malformed payload to the inbox dead letter with its reason; the subscription goes on', async () => {
    const relay = createRelay({ shards, broker, id: 'nats-malformed' })
    await relay.start()
    const inbox = createInbox({ shards, consumer: 'prices' })
    const handled: string[] = []
    const sub = await broker.subscribe('price', 'prices', async (event) => {
      await inbox.handle(event, async (_tx, ev) => {
        const price = (ev.payload as { price?: unknown }).price
        if (typeof price !== 'number')
          throw new PoisonEventError(`price must be a number, got ${JSON.stringify(price)}`)
        handled.push(ev.aggregateId)
      })
    })
    for (const [id, price] of [
      ['a', 10],
      ['b', 'free'],
      ['c', 12],
    ] as const) {
      await shards.withTransaction(id, (tx) =>
        outbox.add(tx, {
          aggregateType: 'price',
          aggregateId: id,
          aggregateVersion: 1,
          type: 'price.set',
          payload: { price },
        }),
      )
    }
    await waitFor(() => handled.length === 2, { timeoutMs: 10_000, what: 'good events handled' })
    const dead = await waitFor(async () => (await inbox.deadLetters())[0], { what: 'inbox dead letter' })
    await sub.close()
    await relay.close()
    expect(handled.sort()).toEqual(['a', 'c'])
    expect(dead.error).toBe('E_POISON_EVENT: price must be a number, got "free"')
    expect((dead.event as EventEnvelope).aggregateId).toBe('b')
  })
})
