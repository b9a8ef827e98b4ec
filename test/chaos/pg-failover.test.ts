import { afterAll, beforeAll, expect, it } from 'vitest'
import type { EventEnvelope } from '../../src/broker/index.js'
import { compareLsn, createShards, type Failover, type Shards } from '../../src/db/index.js'
import { createMemoryBroker } from '../../src/memory/index.js'
import { createOutbox, createRelay, outboxMigrations } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { type PostgresServer, startPostgres } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// A real failover: primary + streaming replica, the replica stops streaming (so the primary's last commits
// are acknowledged but never reach it), the primary is SIGKILLed and the replica promoted. The shards list
// both nodes and find the roles themselves (pg_is_in_recovery()).
let pg: PostgresServer
let shards: Shards
const failovers: Failover[] = []

beforeAll(async () => {
  pg = await startPostgres({ replica: true })
  const node = (url: string, name: string) =>
    createPgNode({ connectionString: url, max: 4, name, connectTimeout: '1s' })
  shards = createShards({
    shards: [{ nodes: [node(pg.primary.url(), 'a'), node(pg.replica!.url(), 'b')] }],
    healthInterval: '100ms',
    healthTimeout: '1s',
    logger: { warn: () => {} },
    onFailover: (failover) => {
      failovers.push(failover)
    },
  })
  await shards.migrate(outboxMigrations)
  await shards.onShard(0, (tx) => tx.query('CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)'))
}, 60_000)
afterAll(async () => {
  await shards?.close()
  await pg?.close()
})

const put = (k: string, v: number) =>
  shards.withTransaction(k, (tx) =>
    tx.query('INSERT INTO kv VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = $2', [k, v]),
  )
const get = (k: string, minLsn?: string) =>
  shards.readWithRoute(
    k,
    async (q) => (await q.query<{ v: number }>('SELECT v FROM kv WHERE k = $1', [k])).rows[0]?.v ?? null,
    { minLsn },
  )

it('finds the promoted replica, keeps reading and writing, never hangs on a lost token, and the relay goes on', async () => {
  const outbox = createOutbox()
  const published: EventEnvelope[] = []
  const memory = createMemoryBroker()
  const broker = Object.assign(Object.create(memory), {
    publish: async (topic: string, events: EventEnvelope[]) => {
      await memory.publish(topic, events)
      published.push(...events)
    },
  }) as typeof memory
  const relay = createRelay({ shards, broker, pollInterval: 100 })
  await relay.start()
  const event = (id: string, v: number) => ({
    aggregateType: 'kv',
    aggregateId: id,
    aggregateVersion: v,
    type: 'kv.put',
    payload: { v },
  })

  expect(shards.topology()[0]).toMatchObject({ primary: 'a', replicas: ['b'], timeline: 1 })
  await put('kept', 1)
  await shards.withTransaction('kept', (tx) => outbox.add(tx, event('kept', 1)))
  await pg.waitForReplica()
  await waitFor(() => published.some((e) => e.aggregateId === 'kept'), {
    timeoutMs: 10_000,
    what: 'first event',
  })

  // Acknowledged on the primary, never replayed by the replica: lost in the failover.
  await pg.stopStreaming()
  const lost = await put('lost', 2)
  await put('kept', 3)
  await relay.close()
  const { result: lostEvents } = await shards.withTransaction('lost', (tx) =>
    outbox.add(tx, event('lost', 1)),
  )
  const oldPrimaryLsn = lost.lsn

  await pg.promote({ oldPrimary: 'kill' })
  const started = Date.now()
  await waitFor(() => shards.topology()[0]!.primary === 'b', {
    timeoutMs: 10_000,
    what: 'the new primary found',
  })
  const foundMs = Date.now() - started
  expect(foundMs).toBeLessThan(10_000)
  expect(failovers).toHaveLength(1)
  const [failover] = failovers
  expect(failover).toMatchObject({ shard: 0, from: 'a', to: 'b', fromTimeline: 1, timeline: 2 })
  // The switch point is before the lost commit: what the old primary acknowledged past it is gone.
  expect(compareLsn(failover!.switchLsn!, lost.lsn)).toBeLessThan(0)
  expect(compareLsn(failover!.lastOldLsn!, lost.lsn)).toBeGreaterThanOrEqual(0)

  // Writes go on, on the new primary; the lost write is gone (asynchronous replication promises no more).
  const after = await put('after', 4)
  expect((await get('after', after.lsn)).result).toBe(4)
  expect((await get('lost')).result).toBeNull()
  expect((await get('kept')).result).toBe(1)

  // A token of the old timeline past the new primary's position: read on the primary, said why, no wait.
  const bigToken = `${(Number.parseInt(oldPrimaryLsn.split('/')[0]!, 16) + 1).toString(16).toUpperCase()}/0`
  const beyond = await get('after', bigToken)
  expect(beyond).toMatchObject({ result: 4, route: { node: 'primary', reason: 'token-beyond-primary' } })

  // A new replica of the new primary, on the old primary's port: the static node list finds it again.
  await pg.startReplica()
  await waitFor(() => shards.topology()[0]!.replicas.includes('a'), {
    timeoutMs: 15_000,
    what: 'the new replica',
  })
  const again = await put('again', 5)
  await pg.waitForReplica()
  await waitFor(async () => (await shards.refreshHealth())[0]?.healthy === true, {
    timeoutMs: 10_000,
    what: 'the new replica healthy',
  })
  expect((await get('again', again.lsn)).route).toMatchObject({
    node: 'replica',
    reason: 'replica-caught-up',
  })

  // The relay runs on the new primary: a new event is published; the lost one never is.
  const relay2 = createRelay({ shards, broker, pollInterval: 100 })
  await relay2.start()
  await shards.withTransaction('after', (tx) => outbox.add(tx, event('after', 1)))
  await waitFor(() => published.some((e) => e.aggregateId === 'after'), {
    timeoutMs: 10_000,
    what: 'event after',
  })
  await relay2.close()
  expect(published.map((e) => e.id)).not.toContain(lostEvents[0]!.id)
  await broker.close()
}, 60_000)
