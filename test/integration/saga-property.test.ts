import type { Shards } from 'concord/db'
import { createSagaEngine, createSqlSagaLog, type SagaEngine, sagaSqlFromShards } from 'concord/saga'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { crashableLog } from '../support/saga-chaos.js'
import {
  conservation,
  type FaultPoint,
  faultPlan,
  type OrderInput,
  orderSaga,
  orderShards,
  seed,
} from '../support/saga-order.js'
import { sharedServices } from '../support/services/index.js'

// Random schedules of failures (every effect, before or after its commit, any number of times) and a
// crash of the orchestrator after any log write; a new process recovers, an admin retries what needs
// attention. Every saga must end COMPLETED or COMPENSATED, and stock and points must be conserved.

const STOCK = 100
const POINTS = 1_000
const LABELS = [
  'stock:action',
  'points:action',
  'confirm:action',
  'stock:compensate',
  'points:compensate',
  'confirm:compensate',
]
const policy = { attempts: 3, backoff: 1, maxBackoff: 2, timeout: 5_000 }
let shards: Shards
let sagaNumber = 0

beforeAll(async () => {
  const pg = sharedServices().postgres
  const dbs = await Promise.all([0, 1, 2].map(() => pg.createDatabase('saga_prop')))
  shards = await orderShards(
    dbs.map((d) => d.primaryUrl),
    6,
  )
  await seed(shards, { products: 3, members: 3, stock: STOCK, points: POINTS })
})
afterAll(async () => {
  await shards?.close()
})

const fault = fc.record({
  label: fc.constantFrom(...LABELS),
  when: fc.constantFrom<FaultPoint>('before-commit', 'after-commit'),
  times: fc.constantFrom(1, 2, 3, 10),
})
const sagaCase = fc.record({
  productId: fc.integer({ min: 1, max: 3 }),
  memberId: fc.integer({ min: 1, max: 3 }),
  quantity: fc.integer({ min: 1, max: 40 }),
  points: fc.integer({ min: 1, max: 400 }),
  faults: fc.array(fault, { maxLength: 3 }),
})
const schedule = fc.record({
  sagas: fc.array(sagaCase, { minLength: 1, maxLength: 4 }),
  crashAfterWrites: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
})

function plan(faults: { label: string; when: FaultPoint; times: number }[]) {
  const merged: Record<string, { when: FaultPoint; times: number }> = {}
  for (const f of faults) merged[f.label] = { when: f.when, times: f.times }
  return merged
}

describe('sagas under random failure and crash schedules', () => {
  it('always end COMPLETED or COMPENSATED, conserving stock and points', async () => {
    await fc.assert(
      fc.asyncProperty(schedule, async ({ sagas, crashAfterWrites }) => {
        const owner = `prop-${++sagaNumber}`
        const base = createSqlSagaLog({ db: sagaSqlFromShards(shards) })
        const chaos = crashableLog(base)
        if (crashAfterWrites !== undefined) chaos.crashAfterWrites(crashAfterWrites)
        const options = { owner, lease: 5_000, action: policy, forward: policy, compensation: policy }
        const cases = sagas.map((s, i) => {
          const input: OrderInput = { orderId: `${owner}-${i}`, ...s }
          return { input, name: `order-${owner}-${i}`, faults: plan(s.faults) }
        })
        const first = createSagaEngine({ ...options, log: chaos.log })
        await Promise.allSettled(
          cases.map((c) =>
            first.run(orderSaga(shards, faultPlan(c.faults), c.name), c.input, {
              idempotencyKey: c.input.orderId,
            }),
          ),
        )
        await first.close()

        // The next life of the process: recovers under the same name, with the same faults still active.
        const second: SagaEngine = createSagaEngine({ ...options, log: base })
        const plans = cases.map((c) => {
          const p = faultPlan(c.faults)
          second.register(orderSaga(shards, p, c.name))
          return p
        })
        await second.recover()
        let missing = 0
        for (const [i, c] of cases.entries()) {
          let saga = (await base.list({ name: c.name }))[0]
          if (saga?.status === 'NEEDS_ATTENTION') {
            plans[i]!.clear() // a person fixed the participant
            await second.retry(saga.id)
            saga = await base.get(saga.id)
          }
          // Only a crash that happened may leave a saga unwritten: one whose start it refused.
          if (!saga) missing++
          else expect(['COMPLETED', 'COMPENSATED']).toContain(saga.status)
        }
        expect(missing).toBeLessThanOrEqual(chaos.refusedStarts())
        await second.close()
        expect((await conservation(shards, { stock: STOCK, points: POINTS })).broken).toEqual([])
      }),
      { numRuns: 25, endOnFailure: true },
    )
  }, 240_000)
})
