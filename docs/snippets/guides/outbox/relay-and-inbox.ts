/**
 * The outbox guide (docs/guides/outbox.md): events written in the business transaction, published by a relay
 * through NATS JetStream, applied once by an inbox; a poisoned event dead-lettered and redriven.
 * Run: DATABASE_URL=postgres://... NATS_URL=nats://... node --import tsx --conditions=source \
 *   docs/snippets/guides/outbox/relay-and-inbox.ts
 */
import type { EventEnvelope } from 'concord/broker'
import { createShards } from 'concord/db'
import { createNatsBroker } from 'concord/nats'
import {
  applyIfNewer,
  createInbox,
  createOutbox,
  createOutboxAdmin,
  createRelay,
  outboxMigrations,
} from 'concord/outbox'
import { createPgNode } from 'concord/pg'

const databaseUrl = process.env.DATABASE_URL
const natsUrl = process.env.NATS_URL
if (!databaseUrl || !natsUrl) throw new Error('set DATABASE_URL and NATS_URL')
const run = `r${process.pid}` // this run's own streams and ids, so runs on one server stay apart

// #region setup
const shards = createShards({ primary: createPgNode({ connectionString: databaseUrl }) })
await shards.migrate([
  ...outboxMigrations, // concord_outbox, concord_inbox and their dead letters
  {
    module: 'guide-accounts',
    version: 1,
    name: 'account and its projection',
    sql: `CREATE TABLE account (id text PRIMARY KEY, balance int NOT NULL, version int NOT NULL);
          CREATE TABLE account_view (id text PRIMARY KEY, balance int NOT NULL, version int NOT NULL);`,
  },
])
const broker = createNatsBroker({ servers: natsUrl, prefix: run })
const outbox = createOutbox() // topic = the event's aggregateType, unless `topicFor` says otherwise
const relay = createRelay({ shards, broker, id: `${run}-relay`, maxAttempts: 10 })
await relay.start()
// #endregion setup

// #region write
// The row and its events commit together or not at all (C5). Events carry the full state at their version.
const id = `${run}-alice`
for (const [version, balance] of [
  [1, 100],
  [2, 70],
  [3, 95],
]) {
  await shards.withTransaction(id, async (tx) => {
    await tx.query(
      `INSERT INTO account (id, balance, version) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET balance = $2, version = $3`,
      [id, balance, version],
    )
    await outbox.add(tx, {
      aggregateType: 'account',
      aggregateId: id,
      aggregateVersion: version!,
      type: 'BalanceChanged',
      payload: { balance },
    })
  })
}
// #endregion write

// #region consume
const inbox = createInbox({ shards, consumer: 'account-view', maxAttempts: 3 })
const applied: number[] = []
let poisoned = true // the bug the handler has until it is fixed (below)
const handle = (event: EventEnvelope) =>
  inbox.handle(event, async (tx, e) => {
    if (e.type === 'AccountFlagged' && poisoned) throw new Error('flag handler not deployed yet')
    const { balance } = e.payload as { balance: number }
    // A duplicate or an older, reordered event changes nothing (C7).
    await applyIfNewer(tx, {
      table: 'account_view',
      key: { id: e.aggregateId },
      version: e.aggregateVersion,
      values: { balance },
    })
    applied.push(e.aggregateVersion)
  })
const subscription = await broker.subscribe('account', 'account-view', async (e) => void (await handle(e)), {
  backoff: ['20ms', '50ms'], // retries in place: the aggregate's later events wait behind a failing one
})
// #endregion consume

const until = async (what: string, done: () => Promise<boolean> | boolean) => {
  const deadline = Date.now() + 15_000
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
await until('three events applied', () => applied.length === 3)
console.log(`applied versions in order: ${applied.join(', ')}`)

// #region dead-letter
await shards.withTransaction(id, (tx) =>
  outbox.add(tx, {
    aggregateType: 'account',
    aggregateId: id,
    aggregateVersion: 4,
    type: 'AccountFlagged',
    payload: { balance: 95 },
  }),
)
// Three failed attempts (maxAttempts), then the inbox dead-letters it and the subscription goes on.
await until('a dead letter', async () => (await inbox.deadLetters()).length === 1)
const [dead] = await inbox.deadLetters()
console.log(`dead-lettered: ${dead?.eventId} (${dead?.error})`)
// The fix is deployed: release the event and handle it again (the CLI: `concord inbox redrive <id> --consumer c`).
poisoned = false
const event = await inbox.release(dead!.eventId)
const again = await handle(event as EventEnvelope)
console.log(`redriven: ${again.status}`)
// #endregion dead-letter

// #region status
const admin = createOutboxAdmin({ shards }) // what `concord outbox status` prints; needs no relay
const [status] = await admin.status()
console.log(
  `outbox: ${status?.pending} pending, ${status?.deadLetters} dead-lettered; relay published ${relay.stats().published}`,
)
// #endregion status

await subscription.close()
await relay.close()
await broker.close()
await shards.close()
