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

/**
 * issue 14: `outbox.add(poolClient, ...)` fails with node-postgres (`TypeError: callback is not a function`: a
 * third `{ prepare }` argument reaches `PoolClient.query`). While false, that failure is expected and the event
 * is written through concord's own transaction instead; once the fix lands the PoolClient write succeeds, this
 * script then fails asking for `true` here, and from then on the PoolClient write is required.
 */
const POOL_CLIENT_ADD_FIXED = false

const connectionString = env('DATABASE_URL')
const shards = createShards({ shards: [{ primary: createPgNode({ connectionString }) }] })
const broker = createNatsBroker({ servers: env('NATS_URL'), prefix: `packcheck${process.pid}` })
const pool = new pg.Pool({ connectionString, max: 2 })
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
  const sub = await broker.subscribe('order', 'billing', async (event) => {
    await inbox.handle(event, async (_tx, ev) => {
      seen.push(ev)
    })
  })

  let committed: EventEnvelope
  if (POOL_CLIENT_ADD_FIXED) {
    await placeOrder('rolled-back', placed('rolled-back'), false)
    committed = await placeOrder('o1', placed('o1'), true)
  } else {
    const failure = await placeOrder('o1', placed('o1'), true).then(
      () => undefined,
      (error: unknown) => error,
    )
    check(failure !== undefined, 'issue 14 is fixed: set POOL_CLIENT_ADD_FIXED = true in outbox-smoke.ts')
    check(
      failure instanceof TypeError && /callback is not a function/.test(failure.message),
      `expected issue 14's TypeError, got ${String(failure)}`,
    )
    console.log('outbox smoke: outbox.add(PoolClient) fails as issue 14 says (expected until its fix lands)')
    await shards
      .withTransaction('rolled-back', async (tx) => {
        await outbox.add(tx, placed('rolled-back'))
        throw new Error('roll back')
      })
      .catch((error: unknown) => check(String(error).includes('roll back'), `rollback: ${String(error)}`))
    const { result } = await shards.withTransaction('o1', async (tx) => {
      await tx.query('INSERT INTO orders (id, total) VALUES ($1, $2)', ['o1', 42])
      return outbox.add(tx, placed('o1'))
    })
    committed = result[0]!
  }

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
  const written = POOL_CLIENT_ADD_FIXED ? 'a PoolClient transaction' : "concord's transaction (issue 14)"
  console.log(`outbox smoke: ok (${written} -> relay -> NATS -> inbox, once; rollback never sent)`)
} finally {
  await relay.close()
  await broker.close()
  await pool.end()
  await shards.close()
}
