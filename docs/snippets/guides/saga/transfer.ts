/**
 * The sagas guide (docs/guides/sagas.md): an orchestrated saga on a durable SQL log, effects applied once, a
 * failure compensated; then a choreographed process tracked by events.
 * Run: DATABASE_URL=postgres://... node --import tsx --conditions=source docs/snippets/guides/saga/transfer.ts
 */
import { createShards } from 'concord/db'
import { createPgNode } from 'concord/pg'
import {
  compensateOnce,
  createSagaEngine,
  createSqlSagaLog,
  defineChoreography,
  defineSaga,
  once,
  SagaStepRejectedError,
  sagaMigrations,
  sagaSqlFromShards,
} from 'concord/saga'

const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) throw new Error('set DATABASE_URL')
const run = `r${process.pid}`

const shards = createShards({ primary: createPgNode({ connectionString: databaseUrl }) })
await shards.migrate([
  ...sagaMigrations, // the log (concord_saga, concord_saga_log), effect keys, choreography processes
  {
    module: 'guide-wallets',
    version: 1,
    name: 'wallets',
    sql: 'CREATE TABLE wallet (id text PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0))',
  },
])
const alice = `${run}-alice`
const bob = `${run}-bob`
await shards.execute(0, 'INSERT INTO wallet (id, balance) VALUES ($1, 100), ($2, 0)', [alice, bob])

// #region define
interface Transfer {
  from: string
  to: string
  amount: number
}
const move = (id: string, delta: number) =>
  shards.withTransaction(id, (tx) =>
    tx.query('UPDATE wallet SET balance = balance + $1 WHERE id = $2', [delta, id]),
  )

const transfer = defineSaga<Transfer>('transfer', [
  {
    name: 'debit',
    // `once` records the effect's key in the same transaction: a retried or resumed step applies it once.
    action: (ctx) =>
      shards.withTransaction(ctx.input.from, (tx) =>
        once(tx, ctx.idempotencyKey, () =>
          tx.query('UPDATE wallet SET balance = balance - $1 WHERE id = $2', [
            ctx.input.amount,
            ctx.input.from,
          ]),
        ),
      ),
    // Undoes only what the action applied; a late action (a timed-out attempt) is cancelled.
    compensate: (ctx) =>
      shards.withTransaction(ctx.input.from, (tx) =>
        compensateOnce(tx, ctx, () =>
          tx.query('UPDATE wallet SET balance = balance + $1 WHERE id = $2', [
            ctx.input.amount,
            ctx.input.from,
          ]),
        ),
      ),
  },
  {
    name: 'credit',
    kind: 'pivot', // once it is done, the saga only goes forward
    action: async (ctx) => {
      if (ctx.input.to.endsWith('closed')) throw new SagaStepRejectedError('the account is closed') // no retries
      await move(ctx.input.to, ctx.input.amount)
    },
  },
])
// #endregion define

// #region run
const engine = createSagaEngine({
  log: createSqlSagaLog({ db: sagaSqlFromShards(shards) }),
  lease: '15s', // another process resumes this one's sagas 15 s after it died
  onAlert: (saga) => console.error(`saga ${saga.id} needs attention`), // page someone
})
const transfers = engine.register(transfer)
await engine.start() // recovers unfinished sagas now, then every `recoverEvery`

const done = await transfers.run({ from: alice, to: bob, amount: 30 }, { idempotencyKey: `${run}-t1` })
const again = await transfers.run({ from: alice, to: bob, amount: 30 }, { idempotencyKey: `${run}-t1` })
const failed = await transfers.run(
  { from: alice, to: `${run}-closed`, amount: 50 },
  { idempotencyKey: `${run}-t2` },
)
console.log(
  `t1 ${done.status}, again ${again.status} (created ${again.created}); t2 ${failed.status}: ${failed.error?.message}`,
)
// #endregion run

const { rows } = await shards.execute<{ id: string; balance: number }>(
  0,
  'SELECT id, balance FROM wallet WHERE id = ANY($1) ORDER BY id',
  [[alice, bob]],
)
console.log(`balances: ${rows.map((r) => r.balance).join(', ')}`)

// #region choreography
// The same kind of process without an orchestrator: each participant reacts to events, and the process row
// tracks the answers (`record` runs in each answer's inbox transaction; see `processHandler`).
const order = defineChoreography({
  name: 'order',
  awaits: ['StockReserved', 'PointsUsed'],
  failures: ['StockRejected', 'PointsRejected'],
})
const orderId = `${run}-order-1`
await shards.withTransaction(orderId, (tx) => order.start(tx, orderId)) // beside outbox.add(tx, OrderPlaced)
await shards.withTransaction(orderId, (tx) => order.record(tx, orderId, 'StockReserved'))
const { result: end } = await shards.withTransaction(orderId, (tx) => order.record(tx, orderId, 'PointsUsed'))
console.log(`order: ${end.status} (transition ${end.transition})`)
// #endregion choreography

await engine.close()
await shards.close()
