import { afterAll, expect, it } from 'vitest'
import type { Broker } from '../../src/broker/index.js'
import type { Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createRelay, type Relay } from '../../src/outbox/index.js'
import {
  type Consumer,
  expectEachEffectOnceInOrder,
  outboxShards,
  startConsumer,
  startWriter,
  type Writer,
  waitForDrain,
} from '../support/relay-chaos.js'
import {
  type NatsServer,
  type PostgresServer,
  sharedServices,
  startNats,
  startPostgres,
  uniqueName,
} from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// A running relay under two crashes of what it stands between: NATS SIGKILLed (not stopped: no goodbye to its
// clients, JetStream recovers its store on the restart), and the PostgreSQL holding the outboxes SIGKILLed
// (crash recovery on the restart). Writers keep committing throughout. The relay loop survives and reports,
// and after the heal the backlog drains: every committed event's effect once, in order per aggregate.

const cleanups: (() => Promise<unknown> | undefined)[] = []
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup()
})

async function outbox(pg: Parameters<typeof outboxShards>[0], broker: Broker, name: string) {
  const { shards } = await outboxShards(pg, name, 2)
  cleanups.push(() => shards.close())
  const errors: unknown[] = []
  const relay = createRelay({
    shards,
    broker,
    pollInterval: 100,
    lease: '2s',
    onError: (error) => errors.push(error),
  })
  cleanups.push(() => relay.close())
  return { shards, relay, errors }
}

/** Waits until the relay has published again after the heal: its loops did not die with the outage. */
async function expectAlive(relay: Relay, publishedBefore: number) {
  await waitFor(() => relay.stats().published > publishedBefore, {
    timeoutMs: 20_000,
    what: 'the relay publishing again after the heal',
  })
}

async function drainAndCheck(shards: Shards, consumer: Consumer, writer: Writer) {
  await writer.stop()
  await waitForDrain(shards, consumer, 30_000)
  return expectEachEffectOnceInOrder(shards, consumer)
}

it('NATS SIGKILLed under a running relay: the relay backs off, reports, and drains the backlog after the restart', {
  timeout: 80_000,
}, async () => {
  const nats: NatsServer = await startNats()
  cleanups.push(() => nats.close())
  const prefix = uniqueName('obkill9')
  const relayBroker = createNatsBroker({
    servers: nats.url,
    prefix,
    reconnectWait: 100,
    publishTimeout: '500ms',
  })
  const consumerBroker = createNatsBroker({ servers: nats.url, prefix, reconnectWait: 100 })
  cleanups.push(
    () => relayBroker.close(),
    () => consumerBroker.close(),
  )
  const { shards, relay, errors } = await outbox(sharedServices().postgres, relayBroker, 'obnatskill')
  const consumer = await startConsumer(consumerBroker, sharedServices().postgres, 'obnatskill')
  cleanups.push(() => consumer.close())
  const writer = startWriter(shards, { aggregates: 24, seed: 9 })
  cleanups.push(() => writer.stop())
  await relay.start()

  await waitFor(async () => (await consumer.effects()) > 100, {
    timeoutMs: 20_000,
    what: 'traffic before the kill',
  })
  await nats.kill()
  const unavailableBefore = relay.stats().brokerUnavailable
  // The outbox holds what NATS cannot take, and the relay counts each claim that found it gone.
  await waitFor(
    async () =>
      relay.stats().brokerUnavailable >= unavailableBefore + 3 &&
      (await relay.status()).reduce((n, s) => n + s.pending, 0) > 150,
    { timeoutMs: 20_000, what: 'a backlog while NATS is dead' },
  )
  const publishedBefore = relay.stats().published
  await nats.restart()
  await expectAlive(relay, publishedBefore)
  const counts = await drainAndCheck(shards, consumer, writer)

  expect(writer.failures()).toBe(0) // writers never waited for the broker
  expect(relay.stats().lastError).toMatch(/unavailable|closed|timed out/i)
  // The error says the connection was lost, not that it never came up.
  expect(relay.stats().lastError).not.toMatch(/not connected yet/)
  expect(errors.some((e) => (e as { code?: string }).code === 'E_BROKER_UNAVAILABLE')).toBe(true)
  expect(relay.stats().deadLettered).toBe(0)
  console.log('nats SIGKILL:', JSON.stringify({ ...counts, stats: relay.stats() }))
})

it('PostgreSQL SIGKILLed under a running relay: the loop survives and reports, and drains after crash recovery', {
  timeout: 80_000,
}, async () => {
  const pg: PostgresServer = await startPostgres({ replica: false })
  cleanups.push(() => pg.close())
  const prefix = uniqueName('obpgkill')
  const relayBroker = createNatsBroker({ servers: sharedServices().nats.url, prefix })
  const consumerBroker = createNatsBroker({ servers: sharedServices().nats.url, prefix })
  cleanups.push(
    () => relayBroker.close(),
    () => consumerBroker.close(),
  )
  const { shards, relay, errors } = await outbox(pg, relayBroker, 'obpgkill')
  // The consumer is another service, on another database server: only the outboxes' server goes down.
  const consumer = await startConsumer(consumerBroker, sharedServices().postgres, 'obpgkill')
  cleanups.push(() => consumer.close())
  const writer = startWriter(shards, { aggregates: 24, seed: 11 })
  cleanups.push(() => writer.stop())
  await relay.start()

  await waitFor(async () => (await consumer.effects()) > 100, {
    timeoutMs: 20_000,
    what: 'traffic before the kill',
  })
  await pg.primary.kill()
  const errorsBefore = errors.length
  await waitFor(() => errors.length >= errorsBefore + 4 && writer.failures() >= 10, {
    timeoutMs: 20_000,
    what: 'the relay reporting the dead database',
  })
  const publishedBefore = relay.stats().published
  await pg.primary.restart()
  await expectAlive(relay, publishedBefore)
  const counts = await drainAndCheck(shards, consumer, writer)

  expect(relay.stats().loopErrors).toBeGreaterThanOrEqual(4)
  expect(relay.stats().deadLettered).toBe(0)
  console.log('postgres SIGKILL:', JSON.stringify({ ...counts, failedCommits: writer.failures() }))
})
