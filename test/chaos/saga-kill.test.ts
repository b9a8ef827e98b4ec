import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Shards } from 'concord/db'
import { createSagaEngine, createSqlSagaLog, type SagaEngine, sagaSqlFromShards } from 'concord/saga'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  conservation,
  type FaultPoint,
  type OrderInput,
  orderSaga,
  orderShards,
  scenarioFaults,
  seed,
} from '../support/saga-order.js'
import { sharedServices } from '../support/services/index.js'

// The orchestrator is killed with SIGKILL at every boundary of a saga, in a child process; a new
// process (this one) recovers it. Each saga ends COMPLETED or COMPENSATED, and stock and points add up.

const root = fileURLToPath(new URL('../..', import.meta.url))
const child = fileURLToPath(new URL('../support/saga-kill-child.ts', import.meta.url))
const STOCK = 1_000
const POINTS = 10_000
let shards: Shards
let urls: string[]
let next = 0
const engines: SagaEngine[] = []

beforeAll(async () => {
  const pg = sharedServices().postgres
  const dbs = await Promise.all([0, 1, 2].map(() => pg.createDatabase('saga_kill')))
  urls = dbs.map((d) => d.primaryUrl)
  shards = await orderShards(urls, 4)
  await seed(shards, { products: 3, members: 3, stock: STOCK, points: POINTS })
})
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()))
  await shards?.close()
})

interface Kill {
  killAtWrite?: number
  killAt?: { label: string; when: FaultPoint }
}

function runChild(
  config: object,
): Promise<{ signal: NodeJS.Signals | null; code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', child, JSON.stringify(config)],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let output = ''
    proc.stdout.on('data', (d) => (output += d))
    proc.stderr.on('data', (d) => (output += d))
    proc.on('error', reject)
    proc.on('exit', (code, signal) => resolve({ code, signal, output }))
  })
}

async function killAndRecover(
  scenario: 'happy' | 'compensate',
  kill: Kill,
  owner: string,
  childLease = 60_000,
) {
  next += 1
  const input: OrderInput = {
    orderId: `k-${next}`,
    productId: 1 + (next % 3),
    memberId: 1 + ((next + 1) % 3),
    quantity: 3,
    points: 50,
  }
  const result = await runChild({ urls, owner: `child-${next}`, lease: childLease, input, scenario, ...kill })
  expect(result.signal, result.output).toBe('SIGKILL')
  // A new process: under the dead one's name it takes the saga back at once; under another name,
  // once the dead process's lease has expired.
  const recovering = createSagaEngine({
    log: createSqlSagaLog({ db: sagaSqlFromShards(shards) }),
    owner: owner === 'same' ? `child-${next}` : owner,
    lease: 5_000,
    action: { attempts: 3, backoff: 1 },
    compensation: { attempts: 3, backoff: 1 },
  })
  engines.push(recovering)
  recovering.register(orderSaga(shards, scenarioFaults(scenario)))
  let resumed = 0
  const deadline = Date.now() + 15_000
  while (resumed === 0 && Date.now() < deadline) {
    resumed += (await recovering.recover()).resumed
    if (resumed === 0) await new Promise((r) => setTimeout(r, 100))
  }
  const saga = (await recovering.list({ limit: 1000 })).find((s) => s.idempotencyKey === input.orderId)
  // A kill before the first log write leaves no saga, which is fine: nothing ran.
  if (!saga) return { status: 'NONE', resumed }
  await recovering.close()
  return { status: saga.status, resumed }
}

async function expectConserved() {
  expect((await conservation(shards, { stock: STOCK, points: POINTS })).broken).toEqual([])
}

describe('kill -9 of the orchestrator at every step boundary', () => {
  // The happy path writes the log 4 times (start, and after each of 3 steps); the compensating one 9.
  for (const killAtWrite of [1, 2, 3]) {
    it(`happy path, killed after log write ${killAtWrite}: recovered to COMPLETED`, async () => {
      const { status, resumed } = await killAndRecover('happy', { killAtWrite }, 'same')
      expect({ status, resumed }).toEqual({ status: 'COMPLETED', resumed: 1 })
      await expectConserved()
    })
  }
  for (const label of ['stock:action', 'points:action', 'confirm:action']) {
    for (const when of ['before-commit', 'after-commit'] as const) {
      it(`happy path, killed inside ${label} ${when}: recovered to COMPLETED`, async () => {
        const { status } = await killAndRecover('happy', { killAt: { label, when } }, 'same')
        expect(status).toBe('COMPLETED')
        await expectConserved()
      })
    }
  }
  for (const killAtWrite of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`compensating, killed after log write ${killAtWrite}: recovered to COMPENSATED`, async () => {
      const { status } = await killAndRecover('compensate', { killAtWrite }, 'same')
      expect(status).toBe('COMPENSATED')
      await expectConserved()
    })
  }
  for (const label of ['confirm:compensate', 'points:compensate', 'stock:compensate']) {
    it(`compensating, killed inside ${label} after its commit: recovered to COMPENSATED`, async () => {
      const { status } = await killAndRecover(
        'compensate',
        { killAt: { label, when: 'after-commit' } },
        'same',
      )
      expect(status).toBe('COMPENSATED')
      await expectConserved()
    })
  }
  it('another process takes over once the dead process lease expires', async () => {
    const { status, resumed } = await killAndRecover('happy', { killAtWrite: 2 }, 'another', 1_000)
    expect({ status, resumed }).toEqual({ status: 'COMPLETED', resumed: 1 })
    await expectConserved()
  })
})
