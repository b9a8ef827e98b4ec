// The outbox as an outbox-only user runs it (concord + pg + NATS): the application writes an order and its
// event in one transaction on its own node-postgres connection (BEGIN/COMMIT on a PoolClient); a relay
// publishes the event through NATS JetStream and an inbox consumer handles it exactly once. An event added in
// a transaction that rolls back is never delivered.
import type { EventEnvelope } from 'concord/broker'
import { createShards } from 'concord/db'
import { createNatsBroker } from 'concord/nats'
import { createInbox, createOutbox, createRelay, type EventInput, outboxMigrations } from 'concord/outbox'
import { createPgNode } from 'concord/pg'
import pg from 'pg'
import { check, env, waitFor } from './kit.js'

const connectionString = env('DATABASE_URL')
// One pool, the application's: concord's relay and inbox run on it too (no second pool, no shard map).
const pool = new pg.Pool({ connectionString, max: 4 })
const shards = createShards({ primary: createPgNode({ pool }) })
const broker = createNatsBroker({ servers: env('NATS_URL'), prefix: `packcheck${process.pid}` })
const outbox = createOutbox()
const relay = createRelay({ shards, broker, id: 'pack-check' })

/** The application's own transaction: BEGIN/COMMIT (or ROLLBACK) on a node-postgres PoolClient. */
async function placeOrder(id: string, event: EventInput, commit: boolean): Promise<EventEnvelope> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    await client.query('INSERT INTO orders (id, total) VALUES ($1, $2)', [id, 42])
    const [written] = await outbox.add(client, event)
    await client.query(commit ? 'COMMIT' : 'ROLLBACK')
    return written!
  } catch (error) {
    await client.query('ROLLBACK')
    throw error
  } finally {
    client.release()
  }
}

const placed = (id: string): EventInput => ({
  aggregateType: 'order',
  aggregateId: id,
  aggregateVersion: 1,
  type: 'order.placed',
  payload: { id, total: 42 },
})

try {
  await shards.migrate(outboxMigrations)
  await shards.onShard(0, (tx) => tx.query('CREATE TABLE orders (id text PRIMARY KEY, total int NOT NULL)'))

  const inbox = createInbox({ shards, consumer: 'billing' })
  const seen: EventEnvelope[] = []
  // The consumer applies each event inside a transaction of its own, on its own PoolClient (handleIn).
  const sub = await broker.subscribe('order', 'billing', async (event) => {
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await inbox.handleIn(client, event, async (ev) => {
        seen.push(ev)
      })
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK')
      throw error
    } finally {
      client.release()
    }
  })

  await placeOrder('rolled-back', placed('rolled-back'), false)
  const committed = await placeOrder('o1', placed('o1'), true)

  await relay.start()
  await waitFor('the committed event in the inbox', () => seen.length > 0)
  await relay.close()
  check(seen.length === 1, `one delivery, got ${seen.length}`)
  check(seen[0]!.id === committed.id, 'the delivered event is the committed one')
  check(JSON.stringify(seen[0]!.payload) === JSON.stringify({ id: 'o1', total: 42 }), 'payload kept')
  const again = await inbox.handle(seen[0]!, async () => {
    throw new Error('a duplicate must not run its handler')
  })
  check(again.status === 'duplicate', `redelivery is a duplicate, got ${again.status}`)
  const pending = await relay.status()
  check(pending[0]!.pending === 0, `nothing left in the outbox, got ${pending[0]!.pending}`)
  await sub.close()
  console.log(
    'outbox smoke: ok (a PoolClient transaction -> relay -> NATS -> handleIn on a PoolClient, once; rollback never sent)',
  )
} finally {
  await relay.close()
  await broker.close()
  await shards.close()
  await pool.end()
}
