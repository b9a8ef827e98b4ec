import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Broker, EventEnvelope } from '../../src/broker/index.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createOutbox, createRelay, outboxMigrations } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { outOfOrder, startAccountWriter } from '../support/outbox-fixtures.js'
import { type NatsServer, sharedServices, startNats, uniqueName } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

// NATS stopped for 10 s while writers keep committing: the outbox holds the backlog, the relay backs off
// without spending attempts, and after the restart everything drains, nothing lost, order per aggregate kept.
let shards: Shards
let nats: NatsServer
let broker: Broker

beforeAll(async () => {
  nats = await startNats()
  const db = await sharedServices().postgres.createDatabase('outbox_outage')
  shards = createShards({ shards: [{ primary: createPgNode({ connectionString: db.primaryUrl, max: 6 }) }] })
  await shards.migrate(outboxMigrations)
  broker = createNatsBroker({ servers: nats.url, prefix: uniqueName('obout'), reconnectWait: 200 })
})
afterAll(async () => {
  await broker?.close()
  await shards?.close()
  await nats?.close()
})

it('drains the backlog after a 10 s NATS outage: nothing lost, order per aggregate kept', {
  timeout: 60_000,
}, async () => {
  const outbox = createOutbox()
  const relay = createRelay({ shards, broker, pollInterval: 100, maxAttempts: 3 })
  const received: EventEnvelope[] = []
  const sub = await broker.subscribe('account', 'ledger', async (event) => {
    received.push(event)
  })
  await relay.start()

  const writer = startAccountWriter(shards, outbox)
  const { written } = writer

  await waitFor(() => received.length > 20, { what: 'traffic before the outage' })
  await nats.stop()
  const stoppedAt = written.length
  await sleep(10_000)
  const duringOutage = written.length - stoppedAt
  const backlog = (await relay.status())[0]!.pending
  await nats.restart()
  await sleep(1_000)
  await writer.stop()

  await waitFor(() => new Set(received.map((e) => e.id)).size >= written.length, {
    timeoutMs: 30_000,
    what: 'the backlog drained',
  })
  await relay.close()
  await sub.close()

  expect(duringOutage).toBeGreaterThan(100) // writers were never blocked by the broker
  expect(backlog).toBeGreaterThan(100) // and the outbox held what NATS could not take
  const ids = new Set(received.map((e) => e.id))
  expect(written.filter((id) => !ids.has(id))).toEqual([]) // lost
  expect(outOfOrder(received)).toEqual([])
  expect(relay.stats().deadLettered).toBe(0)
  expect(relay.stats().brokerUnavailable).toBeGreaterThan(0)
  expect((await relay.status())[0]).toMatchObject({ pending: 0, deadLetters: 0 })
})
