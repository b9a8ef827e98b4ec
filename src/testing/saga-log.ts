import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { Shards } from '../db/index.js'
import {
  compensateOnce,
  createSagaAdmin,
  once,
  reactOnce,
  type SagaLog,
  type SagaRecord,
  undoOnce,
} from '../saga/index.js'
import { sleep } from './wait.js'

/** How `runSagaLogContract` makes the saga log under test and cleans up. */
export interface SagaLogContractOptions {
  /** Names the suites: `SagaLog contract: <name>`. */
  name: string
  /** A log; called by each test (each test uses sagas of its own, so a store may be shared or fresh). */
  create(): SagaLog
  /**
   * The shards under the log, `sagaMigrations` applied, at least two: also tests the effect keys that
   * participants keep on their own shard. Leave it out for a log without SQL shards (memory).
   */
  shards?(): Shards
}

let n = 0
const uuid = () => randomUUID()
// Saga names of this run: a log that outlives one run (a database kept between runs) holds sagas of
// earlier runs, and a claim by name must not see them.
const NAME = `test-${randomUUID().slice(0, 8)}`
function fresh(key = `k${++n}`) {
  const id = uuid()
  return {
    id,
    name: NAME,
    idempotencyKey: `${key}-${id}`,
    input: 'a string input',
    status: 'RUNNING' as const,
    cursor: 0,
    steps: [{ name: 'a', status: 'RUNNING' as const, attempts: 1, compensations: 0 }],
    error: null,
    attention: null,
  }
}
const a = { owner: 'a', ms: 60_000 }
const b = { owner: 'b', ms: 60_000 }

/**
 * The saga log port's contract: leases, claims, fencing, resolve, counts, and, given shards, the effect keys
 * participants write (once, compensateOnce, reactOnce, undoOnce). The memory log, the SQL log on PostgreSQL
 * and on PGlite, and yours, pass it. Registers vitest `describe` blocks.
 */
export function runSagaLogContract(target: SagaLogContractOptions): void {
  describe(`SagaLog contract: ${target.name}`, () => {
    it('start inserts once per (name, key) and returns the existing saga after', async () => {
      const log = target.create()
      const saga = fresh()
      const first = await log.start(saga, a, [{ step: 'a', event: 'action:start', attempt: 1 }])
      expect(first.created).toBe(true)
      expect(first.saga).toMatchObject({ id: saga.id, input: 'a string input', status: 'RUNNING' })
      const again = await log.start({ ...saga, input: 'other' }, b, [])
      expect(again).toMatchObject({ created: false, saga: { id: saga.id, input: 'a string input' } })
      expect((await log.history(saga.id)).map((h) => h.event)).toEqual(['action:start'])
    })

    it('save writes only for the lease owner, and a settled saga holds no lease', async () => {
      const log = target.create()
      const { saga } = await log.start(fresh(), a, [])
      const done: SagaRecord = {
        ...saga,
        status: 'COMPLETED',
        steps: [{ ...saga.steps[0]!, status: 'DONE', output: { x: 1 } }],
      }
      expect(await log.save(done, b, [])).toBe(false)
      expect((await log.get(saga.id))!.status).toBe('RUNNING')
      expect(await log.save(done, a, [{ step: 'a', event: 'action:done', attempt: 1 }])).toBe(true)
      expect(await log.get(saga.id)).toMatchObject({ status: 'COMPLETED', steps: [{ output: { x: 1 } }] })
      expect(await log.claimOne(saga.id, b, ['COMPLETED'])).toBeDefined()
    })

    it('claim takes only expired leases, each by one claimer; renew keeps, release frees', async () => {
      const log = target.create()
      // Owners of their own: a claimer also takes back what its own name holds.
      const [p, q] = [
        { owner: `p-${uuid()}`, ms: 60_000 },
        { owner: `q-${uuid()}`, ms: 60_000 },
      ]
      const short = { owner: `dead-${uuid()}`, ms: 1 }
      const ids: string[] = []
      for (let i = 0; i < 6; i++) ids.push((await log.start(fresh(), short, [])).saga.id)
      const live = (await log.start(fresh(), p, [])).saga.id
      await sleep(20)
      const [x, y] = await Promise.all([log.claim([NAME], p, 4, [live]), log.claim([NAME], q, 4, [])])
      const claimed = [...x, ...y].map((s) => s.id)
      expect(new Set(claimed).size).toBe(claimed.length)
      expect([...claimed].sort()).toEqual([...ids].sort())
      expect(claimed).not.toContain(live)
      expect(await log.claim([NAME], q, 10, claimed)).toEqual([])
      const held = [live, ...x.map((s) => s.id)]
      expect((await log.renew(held, p)).sort()).toEqual([...held].sort())
      expect(await log.renew(held, q)).toEqual([])
      await log.release([live], p.owner)
      expect((await log.claim([NAME], q, 10, claimed)).map((s) => s.id)).toEqual([live])
      expect(await log.claim(['other-name'], { owner: 'z', ms: 1000 }, 10, [])).toEqual([])
    })

    it('resolve settles only NEEDS_ATTENTION; counts count by status', async () => {
      const log = target.create()
      const { saga } = await log.start(fresh(), a, [])
      expect(await log.resolve(saga.id, 'COMPENSATED', 'x')).toBeUndefined()
      const attention = {
        phase: 'compensate' as const,
        step: 'a',
        error: { step: 'a', name: 'Error', message: 'no' },
      }
      await log.save({ ...saga, status: 'NEEDS_ATTENTION', attention }, a, [])
      const resolved = await log.resolve(saga.id, 'COMPENSATED', 'fixed by hand')
      expect(resolved).toMatchObject({
        status: 'COMPENSATED',
        attention: { step: 'a', resolution: 'fixed by hand' },
      })
      const counts = await log.counts()
      expect(counts.COMPENSATED).toBeGreaterThanOrEqual(1)
      expect((await log.list({ status: 'COMPENSATED' })).map((s) => s.id)).toContain(saga.id)
    })

    it('an admin handle over the log reads counts, listings, a saga and its history, and resolves, with no engine', async () => {
      const log = target.create()
      const admin = createSagaAdmin({ log })
      const before = await admin.counts()
      const { saga } = await log.start(fresh(), a, [{ step: 'a', event: 'action:start', attempt: 1 }])
      const attention = {
        phase: 'forward' as const,
        step: 'a',
        error: { step: 'a', name: 'Error', message: 'no' },
      }
      await log.save({ ...saga, status: 'NEEDS_ATTENTION', attention }, a, [
        { step: 'a', event: 'action:failed', attempt: 1 },
      ])
      const during = await admin.counts()
      expect(during.NEEDS_ATTENTION).toBe(before.NEEDS_ATTENTION + 1)
      expect((await admin.list({ status: 'NEEDS_ATTENTION', name: NAME })).map((s) => s.id)).toContain(
        saga.id,
      )
      expect((await admin.get(saga.id))?.status).toBe('NEEDS_ATTENTION')
      expect((await admin.find(NAME, saga.idempotencyKey))?.id).toBe(saga.id)
      expect((await admin.history(saga.id)).map((h) => h.event)).toEqual(['action:start', 'action:failed'])

      const outcome = await admin.resolve(saga.id, { status: 'COMPLETED', note: 'shipped by hand' })
      expect(outcome).toMatchObject({
        id: saga.id,
        status: 'COMPLETED',
        attention: { resolution: 'shipped by hand' },
      })
      await expect(admin.resolve(saga.id, { status: 'COMPLETED', note: 'again' })).rejects.toMatchObject({
        code: 'E_SAGA_STATE',
      })
      await expect(admin.resolve(uuid(), { status: 'COMPLETED', note: 'none' })).rejects.toMatchObject({
        code: 'E_SAGA_NOT_FOUND',
      })
      const after = await admin.counts()
      expect(after.NEEDS_ATTENTION).toBe(before.NEEDS_ATTENTION)
      expect(after.COMPLETED).toBe(before.COMPLETED + 1)
    })
  })

  const shardsOf = target.shards
  if (shardsOf) {
    describe(`once / compensateOnce / choreography keys: ${target.name}`, () => {
      it('applies an effect once per key and returns the first result after', async () => {
        const shards = shardsOf()
        let runs = 0
        const key = `once-${uuid()}`
        const run = () => shards.onShard(0, (tx) => once(tx, key, async () => ({ run: ++runs })))
        expect((await run()).result).toEqual({ run: 1 })
        expect((await run()).result).toEqual({ run: 1 })
        expect(runs).toBe(1)
      })

      it('a failed effect leaves no key: the retry applies it', async () => {
        const shards = shardsOf()
        const key = `fail-${uuid()}`
        await expect(
          shards.onShard(0, (tx) =>
            once(tx, key, async () => {
              throw new Error('boom')
            }),
          ),
        ).rejects.toThrow('boom')
        expect((await shards.onShard(0, (tx) => once(tx, key, async () => 'ok'))).result).toBe('ok')
      })

      it('a compensation before its action cancels it: the late action does nothing', async () => {
        const shards = shardsOf()
        const id = uuid()
        const keys = { actionKey: `${id}:s:action`, compensationKey: `${id}:s:compensate` }
        let undone = 0
        expect((await shards.onShard(1, (tx) => compensateOnce(tx, keys, () => undone++))).result).toBe(false)
        await expect(shards.onShard(1, (tx) => once(tx, keys.actionKey, () => 'late'))).rejects.toMatchObject(
          {
            code: 'E_SAGA_EFFECT_CANCELLED',
          },
        )
        expect((await shards.onShard(1, (tx) => reactOnce(tx, id, 's', () => 'late'))).result).toEqual({
          applied: false,
        })
        expect(undone).toBe(0)
      })

      it('a compensation after its action undoes it once, with the action result', async () => {
        const shards = shardsOf()
        const id = uuid()
        const seen: unknown[] = []
        await shards.onShard(1, (tx) => reactOnce(tx, id, 's', () => ({ qty: 3 })))
        const undo = () => shards.onShard(1, (tx) => undoOnce(tx, id, 's', (r) => void seen.push(r)))
        expect((await undo()).result).toBe(true)
        expect((await undo()).result).toBe(false)
        expect(seen).toEqual([{ qty: 3 }])
      })
    })
  }
}
