import type { Shards } from 'concord/db'
import {
  createSagaEngine,
  createSqlSagaLog,
  type SagaEngine,
  type SagaEngineOptions,
  sagaSqlFromShards,
} from 'concord/saga'
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
import { waitFor } from '../support/wait.js'

const STOCK = 1_000
const POINTS = 10_000
const fast = { attempts: 3, backoff: 1, maxBackoff: 5, timeout: 5_000 }
let shards: Shards
let next = 0
const engines: SagaEngine[] = []

beforeAll(async () => {
  const pg = sharedServices().postgres
  const dbs = await Promise.all([0, 1, 2].map(() => pg.createDatabase('saga_order')))
  shards = await orderShards(dbs.map((d) => d.primaryUrl))
  await seed(shards, { products: 5, members: 5, stock: STOCK, points: POINTS })
})
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()))
  await shards?.close()
})

function engine(options: Partial<SagaEngineOptions> = {}) {
  const e = createSagaEngine({
    log: createSqlSagaLog({ db: sagaSqlFromShards(shards) }),
    lease: 2_000,
    action: fast,
    forward: fast,
    compensation: fast,
    ...options,
  })
  engines.push(e)
  return e
}

function order(overrides: Partial<OrderInput> = {}): OrderInput {
  next += 1
  return {
    orderId: `o-${next}`,
    productId: 1 + (next % 5),
    memberId: 1 + ((next * 7) % 5),
    quantity: 2,
    points: 30,
    ...overrides,
  }
}

async function orderRow(id: string) {
  const { rows } = await shards.read(
    `order:${id}`,
    (q) => q.query('SELECT status FROM orders WHERE id = $1', [id]),
    {
      primary: true,
    },
  )
  return rows[0] as { status: string } | undefined
}

async function expectConserved() {
  const { broken } = await conservation(shards, { stock: STOCK, points: POINTS })
  expect(broken).toEqual([])
}

describe('the order saga on three PostgreSQL shards', () => {
  it('completes: stock and points taken, order confirmed, its log on the shard its id maps to', async () => {
    const e = engine()
    const input = order()
    const outcome = await e.register(orderSaga(shards)).run(input, { idempotencyKey: input.orderId })
    expect(outcome.status).toBe('COMPLETED')
    expect(outcome.outputs).toEqual({
      stock: { reserved: 2 },
      points: { used: 30 },
      confirm: { status: 'CONFIRMED' },
    })
    expect(await orderRow(input.orderId)).toEqual({ status: 'CONFIRMED' })
    const where = await shards.scatter(async (q) =>
      Number(
        (await q.query('SELECT count(*)::int AS n FROM concord_saga WHERE id = $1', [outcome.id])).rows[0]!.n,
      ),
    )
    expect(where.reduce((a, b) => a + b, 0)).toBe(1)
    await expectConserved()
  })

  const actions = ['stock:action', 'points:action', 'confirm:action']
  const points: FaultPoint[] = ['before-commit', 'after-commit']
  for (const label of actions) {
    for (const when of points) {
      it(`${label} failing once ${when}: retried with the same key, completes once`, async () => {
        const e = engine()
        const input = order()
        const outcome = await e.run(orderSaga(shards, faultPlan({ [label]: { when, times: 1 } })), input)
        expect(outcome.status).toBe('COMPLETED')
        expect(await orderRow(input.orderId)).toEqual({ status: 'CONFIRMED' })
        await expectConserved()
      })
      it(`${label} failing for good ${when}: compensated, nothing taken`, async () => {
        const e = engine()
        const input = order()
        const outcome = await e.run(
          orderSaga(shards, faultPlan({ [label]: { when, times: Number.POSITIVE_INFINITY } })),
          input,
        )
        expect(outcome.status).toBe('COMPENSATED')
        expect(outcome.error?.step).toBe(label.split(':')[0])
        expect((await orderRow(input.orderId))?.status ?? 'none').not.toBe('CONFIRMED')
        await expectConserved()
      })
    }
  }

  const compensations = ['stock:compensate', 'points:compensate', 'confirm:compensate']
  for (const label of compensations) {
    for (const when of points) {
      it(`${label} failing ${when}: retried, or NEEDS_ATTENTION with an alert until an admin retry`, async () => {
        const alerts: string[] = []
        const e = engine({ onAlert: (s) => void alerts.push(s.id) })
        // The pivot fails for good after committing, so every compensation has something to undo.
        const plan = faultPlan({
          'confirm:action': { when: 'after-commit', times: Number.POSITIVE_INFINITY },
          [label]: { when, times: 1 },
        })
        const once = await e.run(orderSaga(shards, plan, 'order-c1'), order())
        expect(once.status).toBe('COMPENSATED')
        await expectConserved()

        const stuck = faultPlan({
          'confirm:action': { when: 'after-commit', times: Number.POSITIVE_INFINITY },
          [label]: { when, times: Number.POSITIVE_INFINITY },
        })
        const def = orderSaga(shards, stuck, `order-c2-${label}-${when}`)
        const outcome = await e.run(def, order())
        expect(outcome.status).toBe('NEEDS_ATTENTION')
        expect(outcome.attention).toMatchObject({ phase: 'compensate', step: label.split(':')[0] })
        expect(alerts).toEqual([outcome.id])
        stuck.clear()
        const retried = await e.retry(outcome.id)
        expect(retried.status).toBe('COMPENSATED')
        await expectConserved()
      })
    }
  }

  it('a rejection (out of stock) compensates at once and takes nothing', async () => {
    const e = engine()
    const input = order({ quantity: STOCK * 10 })
    const outcome = await e.run(orderSaga(shards), input)
    expect(outcome).toMatchObject({
      status: 'COMPENSATED',
      error: { code: 'E_SAGA_STEP_REJECTED', step: 'stock' },
    })
    await expectConserved()
  })

  it('run() with one idempotency key from two processes makes one saga and one order', async () => {
    const [a, b] = [engine(), engine()]
    const input = order()
    const outcomes = await Promise.all(
      [a, b].map((e) => e.run(orderSaga(shards), input, { idempotencyKey: input.orderId })),
    )
    expect(outcomes.map((o) => o.status)).toEqual(['COMPLETED', 'COMPLETED'])
    expect(outcomes[0]!.id).toBe(outcomes[1]!.id)
    expect(outcomes.filter((o) => o.created)).toHaveLength(1)
    await expectConserved()
  })

  it('a process that lost its lease stops writing; the new holder finishes, each effect once', async () => {
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const def = orderSaga(shards)
    const slow = {
      ...def,
      steps: def.steps.map((s) =>
        s.name === 'points'
          ? {
              ...s,
              action: async (ctx: never) => {
                await gate
                return s.action(ctx)
              },
            }
          : s,
      ),
    }
    const a = engine({ lease: 300 })
    const input = order()
    const running = a.run(slow, input, { idempotencyKey: input.orderId })
    const id = await waitForRow(input.orderId)
    // Another process takes the saga over (as if a's lease had expired during a long pause).
    await shards.scatter((q) =>
      q.query(
        "UPDATE concord_saga SET lease_owner = 'b', lease_expires_at = now() - interval '1 s' WHERE id = $1",
        [id],
      ),
    )
    const b = engine({ owner: 'b' })
    b.register(def)
    const recovered = await b.recover()
    expect(recovered).toMatchObject({ resumed: 1, completed: 1 })
    release()
    const outcome = await running
    expect(outcome.status).toBe('COMPLETED')
    const history = await b.history(id)
    expect(history.filter((h) => h.event === 'action:done').map((h) => h.step)).toEqual([
      'stock',
      'points',
      'confirm',
    ])
    await expectConserved()
  })

  it('several processes recovering at once: each interrupted saga is claimed by exactly one', async () => {
    const log = createSqlSagaLog({ db: sagaSqlFromShards(shards) })
    const chaos = crashableLog(log)
    chaos.crashAfterWrites(30)
    const doomed = createSagaEngine({
      log: chaos.log,
      owner: 'doomed',
      lease: 300,
      action: fast,
      compensation: fast,
    })
    const def = orderSaga(shards, undefined, 'order-many')
    const inputs = Array.from({ length: 20 }, () => order({ quantity: 1, points: 1 }))
    await Promise.allSettled(inputs.map((input) => doomed.run(def, input, { idempotencyKey: input.orderId })))
    await doomed.close()
    // The dead process's leases expire (300 ms after its last write, by the database's clock).
    await waitFor(
      async () =>
        (
          await shards.scatter((q) =>
            q.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM concord_saga WHERE lease_owner = 'doomed' AND lease_expires_at > now()",
            ),
          )
        ).every(({ rows }) => rows[0]!.n === 0),
      { what: "the dead process's leases to expire" },
    )
    const recoverers = ['r1', 'r2', 'r3'].map((owner) => {
      const e = engine({ owner })
      e.register(def)
      return e
    })
    const summaries = await Promise.all(recoverers.map((e) => e.recover()))
    const sagas = (await recoverers[0]!.list({ name: 'order-many', limit: 100 })).filter((s) =>
      inputs.some((i) => i.orderId === s.idempotencyKey),
    )
    expect(sagas.map((s) => s.status).every((s) => s === 'COMPLETED')).toBe(true)
    let claims = 0
    for (const saga of sagas) {
      const claimed = (await recoverers[0]!.history(saga.id)).filter((h) => h.event === 'saga:claimed').length
      expect(claimed).toBeLessThanOrEqual(1)
      claims += claimed
    }
    expect(claims).toBe(summaries.reduce((n, s) => n + s.resumed, 0))
    expect(claims).toBeGreaterThan(0)
    await expectConserved()
  })
})

function waitForRow(orderId: string): Promise<string> {
  return waitFor(
    async () =>
      (
        await shards.scatter(async (q) =>
          (
            await q.query("SELECT id FROM concord_saga WHERE idempotency_key = $1 AND status = 'RUNNING'", [
              orderId,
            ])
          ).rows.map((r) => String((r as { id: string }).id)),
        )
      ).flat()[0],
    { intervalMs: 10, what: `the RUNNING saga row of ${orderId}` },
  )
}
