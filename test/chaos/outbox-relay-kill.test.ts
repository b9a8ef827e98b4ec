import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Broker, EventEnvelope } from '../../src/broker/index.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createInbox, createOutbox, createRelay, outboxMigrations } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { spawnOutboxChild } from '../support/outbox-spawn.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

// kill -9 of a relay between the broker's ack and the DELETE: the rows stay, their lease runs out, another
// relay publishes them again, and the consumer's inbox makes the effect happen once.
let shards: Shards
let broker: Broker
let url: string
const prefix = uniqueName('obkill')
const dedupWindow = 200 // shorter than the lease, so NATS stores the second publish and the inbox must dedup

beforeAll(async () => {
  url = (await sharedServices().postgres.createDatabase('outbox_kill')).primaryUrl
  shards = createShards({ shards: [{ primary: createPgNode({ connectionString: url, max: 4 }) }] })
  await shards.migrate(outboxMigrations)
  await shards.onShard(0, (tx) => tx.query('CREATE TABLE effects (event_id text NOT NULL)'))
  broker = createNatsBroker({ servers: sharedServices().nats.url, prefix: prefix, dedupWindow })
})
afterAll(async () => {
  await broker?.close()
  await shards?.close()
})

it('publishes again after the relay is killed between publish and mark; the effect happens once', async () => {
  const outbox = createOutbox()
  const { result: written } = await shards.withTransaction('k', (tx) =>
    outbox.add(
      tx,
      [1, 2, 3, 4, 5].map((v) => ({
        aggregateType: 'order',
        aggregateId: 'k',
        aggregateVersion: v,
        type: 'order.placed',
        payload: { v },
      })),
    ),
  )
  const { child, line, killed } = await spawnOutboxChild(
    'relay',
    {
      OUTBOX_PG_URL: url,
      OUTBOX_NATS_URL: sharedServices().nats.url,
      OUTBOX_STREAM_PREFIX: prefix,
      OUTBOX_DEDUP_MS: String(dedupWindow),
      OUTBOX_LEASE_MS: '1500',
    },
    /^published /,
  )
  child.kill('SIGKILL')
  await killed
  expect(JSON.parse(line.slice('published '.length))).toEqual(written.map((e) => e.id))
  const { result: left } = await shards.onShard(0, (tx) =>
    tx.query<{ n: number }>('SELECT count(*)::int AS n FROM concord_outbox'),
  )
  expect(left.rows[0]!.n).toBe(5) // published, never marked

  const inbox = createInbox({ shards, consumer: 'orders' })
  const deliveries: EventEnvelope[] = []
  const statuses: string[] = []
  const sub = await broker.subscribe('order', 'orders', async (event) => {
    deliveries.push(event)
    const r = await inbox.handle(event, async (tx, ev) => {
      await tx.query('INSERT INTO effects VALUES ($1)', [ev.id])
    })
    statuses.push(r.status)
  })
  await waitFor(() => deliveries.length >= 5, { what: 'first publish delivered' })
  await sleep(dedupWindow + 50)

  const republished: string[] = []
  const heir = createRelay({
    shards,
    broker,
    pollInterval: 100,
    onPublished: (es) => republished.push(...es.map((e) => e.id)),
  })
  await heir.start()
  await waitFor(() => republished.length >= 5, { timeoutMs: 10_000, what: 'republish after the lease' })
  await waitFor(() => statuses.length >= 10, { timeoutMs: 10_000, what: 'the duplicates delivered' })
  await heir.close()
  await sub.close()

  expect(republished).toEqual(written.map((e) => e.id))
  expect(statuses.filter((s) => s === 'processed')).toHaveLength(5)
  expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(5)
  const { result } = await shards.onShard(0, (tx) =>
    tx.query<{ event_id: string; n: number }>(
      'SELECT event_id, count(*)::int AS n FROM effects GROUP BY event_id',
    ),
  )
  expect(result.rows.map((r) => r.n)).toEqual([1, 1, 1, 1, 1])
  const status = await heir.status()
  expect(status[0]).toMatchObject({ pending: 0, deadLetters: 0 })
})
