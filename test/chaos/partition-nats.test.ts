import { afterAll, beforeAll, expect, it } from 'vitest'
import type { Broker, EventEnvelope } from '../../src/broker/index.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createOutbox, createRelay, outboxMigrations } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { outOfOrder, startAccountWriter } from '../support/outbox-fixtures.js'
import {
  type NatsServer,
  type PartitionProxy,
  sharedServices,
  startNats,
  startPartitionProxy,
  uniqueName,
} from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

// The relay's link to NATS blackholed for 5 s (nothing closed: its client keeps a connection that answers
// nothing) while writers keep committing and a consumer keeps its own link: the outbox holds the backlog, the
// relay's publishes time out and back off, and after the heal everything drains, nothing lost, order kept.
let shards: Shards
let nats: NatsServer
let proxy: PartitionProxy
let relayBroker: Broker
let consumerBroker: Broker

beforeAll(async () => {
  nats = await startNats()
  proxy = await startPartitionProxy({ host: '127.0.0.1', port: Number(new URL(nats.url).port) })
  const db = await sharedServices().postgres.createDatabase('partition_nats')
  shards = createShards({ shards: [{ primary: createPgNode({ connectionString: db.primaryUrl, max: 6 }) }] })
  await shards.migrate(outboxMigrations)
  const prefix = uniqueName('partnats')
  relayBroker = createNatsBroker({
    servers: `nats://${proxy.host}:${proxy.port}`,
    prefix,
    reconnectWait: 200,
  })
  consumerBroker = createNatsBroker({ servers: nats.url, prefix, reconnectWait: 200 })
})
afterAll(async () => {
  await relayBroker?.close()
  await consumerBroker?.close()
  await shards?.close()
  await proxy?.close()
  await nats?.close()
})

it('drains the relay backlog after its link to NATS heals: nothing lost, order per aggregate kept', {
  timeout: 60_000,
}, async () => {
  const outbox = createOutbox()
  const relay = createRelay({ shards, broker: relayBroker, pollInterval: 100, maxAttempts: 3 })
  const received: EventEnvelope[] = []
  const sub = await consumerBroker.subscribe('account', 'ledger', async (event) => {
    received.push(event)
  })
  await relay.start()

  const writer = startAccountWriter(shards, outbox)
  const { written } = writer

  await waitFor(() => received.length > 20, { what: 'traffic before the partition' })
  proxy.set('blackhole')
  const cutAt = written.length
  await sleep(5_000)
  const receivedDuring = new Set(received.map((e) => e.id)).size
  const backlog = (await relay.status())[0]!.pending
  proxy.heal()
  const healedAt = performance.now()
  await sleep(500)
  await writer.stop()

  await waitFor(() => new Set(received.map((e) => e.id)).size >= written.length, {
    timeoutMs: 30_000,
    what: 'the backlog drained',
  })
  const drainMs = performance.now() - healedAt
  await relay.close()
  await sub.close()

  expect(written.length - cutAt).toBeGreaterThan(50) // writers were never blocked by the broker
  expect(backlog).toBeGreaterThan(50) // the outbox held what the relay could not publish
  expect(receivedDuring).toBeLessThan(written.length) // the consumer did not get it all through the cut
  const ids = new Set(received.map((e) => e.id))
  expect(written.filter((id) => !ids.has(id))).toEqual([]) // lost
  expect(outOfOrder(received)).toEqual([])
  expect(relay.stats().deadLettered).toBe(0)
  expect((await relay.status())[0]).toMatchObject({ pending: 0, deadLetters: 0 })
  console.log(
    `partition-nats: backlog ${backlog} during the cut, drained ${drainMs.toFixed(0)} ms after the heal`,
  )
})
