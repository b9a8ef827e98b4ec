import { createSagaEngine, defineSaga, type SagaEngine, type SagaStep } from 'concord/saga'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemorySagaLog } from '../../src/memory/index.js'
import { crashableLog } from '../support/saga-chaos.js'
import { sleep, waitFor } from '../support/wait.js'

const fast = { attempts: 3, backoff: 1, maxBackoff: 2, timeout: 1_000 }
const engines: SagaEngine[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()))
})

function engine(log: Parameters<typeof createSagaEngine>[0]['log'], owner: string, lease = 40) {
  const e = createSagaEngine({ log, owner, lease, action: fast, forward: fast, compensation: fast })
  engines.push(e)
  return e
}

function steps(calls: string[], onAction: (step: string) => void = () => {}): SagaStep[] {
  return ['a', 'b', 'c'].map((name) => ({
    name,
    action: (ctx) => {
      calls.push(`${ctx.idempotencyKey}`)
      onAction(name)
    },
    compensate: (ctx) => {
      calls.push(`${ctx.idempotencyKey}`)
    },
  }))
}

describe('saga recovery (memory log)', () => {
  it('a new process resumes a saga whose process died mid-step, with the same idempotency keys', async () => {
    const inner = createMemorySagaLog()
    const { log, crash } = crashableLog(inner)
    const calls: string[] = []
    const a = engine(log, 'a')
    const def = defineSaga(
      'order',
      steps(calls, (step) => step === 'b' && crash()),
    )
    await expect(a.register(def).run({}, { idempotencyKey: 'k' })).rejects.toMatchObject({
      code: 'E_SAGA_INTERRUPTED',
    })
    const [stuck] = await inner.list()
    expect(stuck).toMatchObject({ status: 'RUNNING', cursor: 1 })

    const b = engine(inner, 'b')
    const resumed = defineSaga('order', steps(calls))
    b.register(resumed)
    await sleep(60) // a's lease expires
    expect(await b.recover()).toMatchObject({ resumed: 1, completed: 1 })
    const saga = (await inner.get(stuck!.id))!
    expect(saga.status).toBe('COMPLETED')
    const id = stuck!.id
    expect(calls).toEqual([`${id}:a:action`, `${id}:b:action`, `${id}:b:action`, `${id}:c:action`])
    expect((await inner.history(id)).map((h) => h.event)).toContain('saga:claimed')
  })

  it('a saga held by a live process is not recovered by another', async () => {
    const log = createMemorySagaLog()
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    // Renewals counted on the way to the log: a renews every third of its lease.
    let renewals = 0
    const watched = new Proxy(log, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target)
        if (typeof value !== 'function') return value
        if (prop !== 'renew') return value.bind(target)
        return async (...args: unknown[]) => {
          const result = await value.apply(target, args)
          renewals++
          return result
        }
      },
    })
    // A lease a loaded machine's pauses cannot outlast between renewals (one every 500 ms).
    const LEASE = 1500
    const a = engine(watched, 'a', LEASE)
    const def = defineSaga('slow', [{ name: 'wait', action: () => gate, compensate: () => {} }])
    const running = a.register(def).run({})
    const b = engine(log, 'b', LEASE)
    b.register(def)
    // Four renewals: past the first lease's end, so only a's renewals keep the saga from b.
    await waitFor(() => renewals >= 4, { what: 'four renewals' })
    expect(await b.recover()).toMatchObject({ resumed: 0 })
    release()
    expect((await running).status).toBe('COMPLETED')
  })

  it('a restarted process with the same owner name takes its sagas back at once', async () => {
    const inner = createMemorySagaLog()
    const { log, crash } = crashableLog(inner)
    const calls: string[] = []
    const before = engine(log, 'order-1', 60_000)
    await expect(
      before
        .register(
          defineSaga(
            'order',
            steps(calls, (s) => s === 'c' && crash()),
          ),
        )
        .run({}),
    ).rejects.toThrow()
    const after = engine(inner, 'order-1', 60_000)
    after.register(defineSaga('order', steps(calls)))
    expect(await after.recover()).toMatchObject({ resumed: 1, completed: 1 })
  })

  it('several processes recovering at once resume each saga exactly once', async () => {
    const inner = createMemorySagaLog()
    const { log, crash } = crashableLog(inner)
    const doomed = engine(log, 'doomed', 20)
    const calls: string[] = []
    const def = defineSaga('order', steps(calls))
    const started = await Promise.all(Array.from({ length: 30 }, (_, i) => doomed.submit(def, { i })))
    crash()
    await sleep(50)
    const ids = started.map((s) => s.id)
    const before = (await inner.list({ limit: 100 })).filter((s) => s.status === 'RUNNING').map((s) => s.id)
    const resumedCalls: string[] = []
    const recoverers = ['r1', 'r2', 'r3'].map((o) => {
      const e = engine(inner, o, 5_000)
      e.register(defineSaga('order', steps(resumedCalls)))
      return e
    })
    const summaries = await Promise.all(recoverers.map((e) => e.recover()))
    expect(before.length).toBeGreaterThan(0)
    expect(summaries.reduce((n, s) => n + s.resumed, 0)).toBe(before.length)
    for (const id of ids) expect((await inner.get(id))!.status).toBe('COMPLETED')
    // Between them, the recoverers ran each resumed saga's last step exactly once, and no effect twice.
    for (const id of before) expect(resumedCalls.filter((c) => c === `${id}:c:action`)).toHaveLength(1)
    expect(new Set(resumedCalls).size).toBe(resumedCalls.length)
  })

  it('close() stops at the next boundary and releases the lease: another process resumes at once', async () => {
    const log = createMemorySagaLog()
    const calls: string[] = []
    let entered = () => {}
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const a = engine(log, 'a', 60_000)
    const blocked = defineSaga('order', [
      {
        name: 'a',
        action: () => {
          entered()
          return new Promise(() => {})
        },
        compensate: () => {},
      },
      ...steps(calls).slice(1),
    ])
    const running = a.register(blocked).run({})
    await inside
    await a.close()
    await expect(running).rejects.toMatchObject({ code: 'E_SAGA_INTERRUPTED' })
    const b = engine(log, 'b', 60_000)
    b.register(defineSaga('order', steps(calls)))
    expect(await b.recover()).toMatchObject({ resumed: 1, completed: 1 })
  })

  it('start() keeps recovering: a saga whose process dies later is taken over without a call', async () => {
    const inner = createMemorySagaLog()
    const { log, crash } = crashableLog(inner)
    const calls: string[] = []
    const survivor = createSagaEngine({ log: inner, owner: 'survivor', lease: 40, recoverEvery: 30 })
    engines.push(survivor)
    survivor.register(defineSaga('order', steps(calls)))
    await survivor.start()
    const doomed = engine(log, 'doomed', 40)
    const run = doomed
      .register(
        defineSaga(
          'order',
          steps(calls, (s) => s === 'b' && crash()),
        ),
      )
      .run({})
    await expect(run).rejects.toThrow()
    const [saga] = await inner.list()
    const done = await survivor.wait(saga!.id, { timeout: '5s' })
    expect(done.status).toBe('COMPLETED')
  })
})
