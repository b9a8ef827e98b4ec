// `npm run bench -- saga [--sagas 2000] [--rounds 5] [--concurrency 32] [--recover 1000]`
// Durable 3-step order sagas over 3 shards (stock, points, confirm: each on its own shard, each effect
// keyed with `once`) on a private PostgreSQL started through the test harness, and in the same run the
// same three steps as a DBOS Transact workflow durable on the same server (its system database beside
// the shards), where compensation is the hand-written try/catch DBOS leaves to its users.
// Writes bench/results/saga.json: sagasPerSec, recoverySecondsPer1000, sagasVsDbos (concord / DBOS).
// DBOS needs `@dbos-inc/dbos-sdk` installed (a devDependency); without it its figures are null.
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import type { Shards } from 'concord/db'
import {
  createSagaEngine,
  createSqlSagaLog,
  defineSaga,
  type SagaStep,
  type StepContext,
  sagaSqlFromClients,
  sagaSqlFromShards,
} from 'concord/saga'
import pg from 'pg'
import { crashableLog } from '../test/support/saga-chaos.js'
import { conservation, type OrderInput, orderSaga, orderShards, seed } from '../test/support/saga-order.js'
import { startPostgres } from '../test/support/services/postgres.js'

const { values } = parseArgs({
  options: {
    sagas: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '5' },
    recover: { type: 'string', default: '1000' },
    // 'shards': the log through concord/db transactions (BEGIN, statement, LSN, COMMIT);
    // 'clients': the log on plain pg pools, one autocommit statement per write.
    log: { type: 'string', default: 'shards' },
  },
})
const SAGAS = Number(values.sagas)
const ROUNDS = Number(values.rounds)
const CONCURRENCY = Number(values.concurrency)
const RECOVER = Number(values.recover)
const POOL = 12
const PRODUCTS = 100
const STOCK = 1_000_000
const POINTS = 10_000_000

const load = () =>
  loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')
const loadAtStart = load()
console.error(`load average at start: ${loadAtStart}`)
const server = await startPostgres({ replica: false })
const dbs = await Promise.all([0, 1, 2].map(() => server.createDatabase('bench_saga')))
const dbosDb = await server.createDatabase('bench_saga_dbos')
const shards = await orderShards(
  dbs.map((d) => d.primaryUrl),
  POOL,
)
await seed(shards, { products: PRODUCTS, members: PRODUCTS, stock: STOCK, points: POINTS })

let counter = 0
const nextOrder = (prefix: string): OrderInput => {
  counter += 1
  return {
    orderId: `${prefix}-${counter}`,
    productId: 1 + (counter % PRODUCTS),
    memberId: 1 + ((counter * 7) % PRODUCTS),
    quantity: 1,
    points: 10,
  }
}

/** Runs `total` jobs `concurrency` at a time; returns jobs per second. */
async function rate(total: number, job: (i: number) => Promise<unknown>): Promise<number> {
  let started = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (started < total) await job(started++)
    }),
  )
  return total / ((performance.now() - t0) / 1000)
}

// Three pools per database in all (shards, log clients, DBOS) stay under max_connections (100).
const pools =
  values.log === 'clients' ? dbs.map((d) => new pg.Pool({ connectionString: d.primaryUrl, max: POOL })) : []
const log = createSqlSagaLog({
  db: values.log === 'clients' ? sagaSqlFromClients(pools) : sagaSqlFromShards(shards),
})

// 1. Throughput: complete sagas, one run() per order, in rounds that alternate with the same three steps as a
// DBOS workflow on the same PostgreSQL, so that load from other processes on a shared machine falls on both alike.
const engine = createSagaEngine({ log, owner: 'bench' })
const orders = engine.register(orderSaga(shards))
const concordRound = (n: number) =>
  rate(n, async () => {
    const outcome = await orders.run(nextOrder('c'))
    if (outcome.status !== 'COMPLETED') throw new Error(`saga ended ${outcome.status}`)
  })
const dbos = await startDbos(shards, dbosDb.primaryUrl)
await rate(200, () => orders.run(nextOrder('warm'))) // warm-up: pools, plans
await dbos?.rate(200)
const per = Math.ceil(SAGAS / ROUNDS)
const concordRates: number[] = []
const dbosRates: number[] = []
const ratios: number[] = []
for (let round = 0; round < ROUNDS; round++) {
  const ours = await concordRound(per)
  concordRates.push(ours)
  if (dbos) {
    const theirs = await dbos.rate(per)
    dbosRates.push(theirs)
    ratios.push(ours / theirs)
  }
  console.error(
    `  round ${round + 1}: concord ${Math.round(ours)} sagas/s${dbos ? `, DBOS ${Math.round(dbosRates.at(-1)!)} workflows/s, ratio ${ratios.at(-1)!.toFixed(2)}` : ''}`,
  )
}
await dbos?.shutdown()
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}
const sagasPerSec = median(concordRates)
await engine.close()

// 2. Recovery: RECOVER sagas interrupted at step 1, 2 or 3 (the process "dies" with them in flight);
// a new process under the same name resumes them all.
const recoverySecondsPer1000 = await (async () => {
  const chaos = crashableLog(log)
  const dying = createSagaEngine({ log: chaos.log, owner: 'bench-recovery', lease: 60_000 })
  const real = orderSaga(shards)
  let hanging = 0
  const hang = (index: number): SagaStep<OrderInput> => ({
    name: real.steps[index]!.name,
    kind: real.steps[index]!.kind,
    compensate: real.steps[index]!.compensate,
    action: (ctx: StepContext<OrderInput>) => {
      if (Number(ctx.input.orderId.split('-')[1]) % 3 === index) {
        hanging += 1
        return new Promise(() => {}) // in flight when the process dies
      }
      return real.steps[index]!.action(ctx)
    },
  })
  const stuck = defineSaga(real.name, [hang(0), hang(1), hang(2)])
  for (let i = 0; i < RECOVER; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, RECOVER - i) }, () => dying.submit(stuck, nextOrder('r'))),
    )
  }
  while (hanging < RECOVER) await new Promise((resolve) => setTimeout(resolve, 20))
  chaos.crash()
  const reborn = createSagaEngine({ log, owner: 'bench-recovery', concurrency: CONCURRENCY })
  reborn.register(real)
  const t0 = performance.now()
  const summary = await reborn.recover()
  const seconds = (performance.now() - t0) / 1000
  if (summary.completed !== RECOVER) throw new Error(`recovered ${JSON.stringify(summary)}`)
  await reborn.close()
  return (seconds * 1000) / RECOVER
})()

console.error(
  `concord ${Math.round(sagasPerSec)} sagas/s, recovery ${recoverySecondsPer1000.toFixed(3)} s/1000` +
    (dbos
      ? `; DBOS ${Math.round(median(dbosRates))} workflows/s; ratio ${median(ratios).toFixed(2)} (median of rounds)`
      : ''),
)
console.error(`load average at end: ${load()}`)
const { broken } = await conservation(shards, { stock: STOCK, points: POINTS })
if (broken.length > 0) throw new Error(`stock/points not conserved: ${broken.slice(0, 3).join('; ')}`)

const result = {
  benchmark: 'saga: durable 3-step order sagas over 3 shards vs DBOS Transact',
  date: new Date().toISOString(),
  node: process.version,
  postgres: await shards
    .onShard(
      0,
      async (tx) =>
        (await tx.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]!.v,
    )
    .then((r) => r.result),
  sagas: SAGAS,
  concurrency: CONCURRENCY,
  log: values.log,
  sagasPerSec: Math.round(sagasPerSec),
  recoverySecondsPer1000: Number(recoverySecondsPer1000.toFixed(3)),
  recovered: RECOVER,
  dbosSagasPerSec: dbos === null ? null : Math.round(median(dbosRates)),
  sagasVsDbos: dbos === null ? null : Number(median(ratios).toFixed(2)),
  rounds: ROUNDS,
  loadAverage: { start: loadAtStart, end: load() },
  notes:
    dbos === null
      ? 'DBOS not measured: @dbos-inc/dbos-sdk is not installed (npm i -D @dbos-inc/dbos-sdk).'
      : 'DBOS workflow: the same step functions as DBOS.runStep steps, compensation by hand in try/catch.',
}
console.log(JSON.stringify(result, null, 2))
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', 'saga.json')
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
await Promise.all(pools.map((p) => p.end()))
await shards.close()
await server.close()
process.exit(0)

/**
 * The DBOS side: one registered workflow whose steps are the same participant functions (same SQL,
 * same `once` keys, here keyed by the workflow id), checkpointed by DBOS.runStep in DBOS's system
 * database on the same server. Null without the package.
 */
async function startDbos(
  shards: Shards,
  systemDatabaseUrl: string,
): Promise<{ rate(n: number): Promise<number>; shutdown(): Promise<void> } | null> {
  interface DbosApi {
    setConfig(config: Record<string, unknown>): void
    launch(): Promise<void>
    shutdown(): Promise<void>
    registerWorkflow<A extends unknown[], R>(
      fn: (...args: A) => Promise<R>,
      config: { name: string },
    ): (...args: A) => Promise<R>
    runStep<R>(fn: () => Promise<R>, config: { name: string }): Promise<R>
    readonly workflowID: string | undefined
  }
  const name = '@dbos-inc/dbos-sdk'
  const loaded = (await import(name).catch(() => null)) as { DBOS: DbosApi } | null
  if (!loaded) return null
  const { DBOS } = loaded
  DBOS.setConfig({ name: 'concord-saga-bench', systemDatabaseUrl, logLevel: 'error' })
  const def = orderSaga(shards, undefined, 'order-dbos')
  const context = (id: string, step: string, input: OrderInput): StepContext<OrderInput> => ({
    sagaId: id,
    saga: def.name,
    step,
    input,
    idempotencyKey: `${id}:${step}:action`,
    actionKey: `${id}:${step}:action`,
    compensationKey: `${id}:${step}:compensate`,
    attempt: 1,
    outputs: {},
    signal: new AbortController().signal,
  })
  const workflow = DBOS.registerWorkflow(
    async (input: OrderInput) => {
      const id = DBOS.workflowID!
      const done: SagaStep<OrderInput>[] = []
      try {
        for (const step of def.steps) {
          await DBOS.runStep(async () => step.action(context(id, step.name, input)), { name: step.name })
          done.push(step)
        }
      } catch (error) {
        // What DBOS leaves to its users: undo by hand, in reverse, each undo its own step.
        for (const step of done.reverse()) {
          const ctx = { ...context(id, step.name, input), idempotencyKey: `${id}:${step.name}:compensate` }
          await DBOS.runStep(async () => step.compensate?.(ctx), { name: `${step.name}:compensate` })
        }
        throw error
      }
    },
    { name: 'orderWorkflow' },
  )
  await DBOS.launch()
  return {
    rate: (n) => rate(n, () => workflow(nextOrder('d'))),
    shutdown: () => DBOS.shutdown(),
  }
}
