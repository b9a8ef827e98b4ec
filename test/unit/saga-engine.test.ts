import {
  createSagaEngine,
  defineSaga,
  type SagaEngine,
  type SagaRecord,
  type SagaStep,
  SagaStepRejectedError,
} from 'concord/saga'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemorySagaLog } from '../../src/memory/index.js'

const fast = { attempts: 3, backoff: 1, maxBackoff: 2, timeout: 1_000 }
const engines: SagaEngine[] = []
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()))
})

function engine(options: Partial<Parameters<typeof createSagaEngine>[0]> = {}) {
  const e = createSagaEngine({
    log: createMemorySagaLog(),
    lease: 1_000,
    action: fast,
    forward: fast,
    compensation: fast,
    ...options,
  })
  engines.push(e)
  return e
}

/** Three steps that record every call; `fail` makes an action or compensation throw. */
function recorder(fail: Record<string, number | 'always'> = {}) {
  const calls: string[] = []
  const keys = new Map<string, Set<string>>()
  const effect = (label: string, key: string) => {
    calls.push(label)
    keys.set(label, new Set([...(keys.get(label) ?? []), key]))
    const left = fail[label]
    if (left === 'always') throw new Error(`${label} failed`)
    if (typeof left === 'number' && left > 0) {
      fail[label] = left - 1
      throw new Error(`${label} failed`)
    }
    return { by: label }
  }
  const step = (name: string, kind?: SagaStep['kind']): SagaStep => ({
    name,
    ...(kind ? { kind } : {}),
    action: (ctx) => effect(`${name}:action`, ctx.idempotencyKey),
    ...(kind === 'retriable' || kind === 'pivot'
      ? {}
      : { compensate: (ctx) => effect(`${name}:compensate`, ctx.idempotencyKey) }),
  })
  return { calls, keys, step }
}

describe('saga engine (memory log)', () => {
  it('runs the steps in order and completes, with their outputs and a before/after history', async () => {
    const r = recorder()
    const e = engine()
    const saga = e.register(defineSaga('order', [r.step('a'), r.step('b'), r.step('c')]))
    const outcome = await saga.run({ qty: 1 }, { idempotencyKey: 'o-1' })
    expect(outcome.status).toBe('COMPLETED')
    expect(outcome.outputs).toEqual({ a: { by: 'a:action' }, b: { by: 'b:action' }, c: { by: 'c:action' } })
    expect(r.calls).toEqual(['a:action', 'b:action', 'c:action'])
    const events = (await e.history(outcome.id)).map((h) => `${h.step ?? '-'}:${h.event}`)
    expect(events).toEqual([
      '-:saga:start',
      'a:action:start',
      'a:action:done',
      'b:action:start',
      'b:action:done',
      'c:action:start',
      'c:action:done',
      '-:saga:completed',
    ])
  })

  for (const failing of ['a', 'b', 'c']) {
    it(`compensates in reverse order when step ${failing} fails for good`, async () => {
      const r = recorder({ [`${failing}:action`]: 'always' })
      const e = engine()
      const saga = e.register(defineSaga('order', [r.step('a'), r.step('b'), r.step('c')]))
      const outcome = await saga.run({}, { idempotencyKey: `fail-${failing}` })
      expect(outcome.status).toBe('COMPENSATED')
      expect(outcome.error).toMatchObject({ step: failing, message: `${failing}:action failed` })
      const index = ['a', 'b', 'c'].indexOf(failing)
      const undone = ['a', 'b', 'c'].slice(0, index + 1).reverse()
      expect(r.calls.filter((c) => c.endsWith(':compensate'))).toEqual(undone.map((s) => `${s}:compensate`))
      // The failing action was tried 3 times with one stable key.
      expect(r.calls.filter((c) => c === `${failing}:action`)).toHaveLength(3)
      expect(r.keys.get(`${failing}:action`)!.size).toBe(1)
      expect([...r.keys.get(`${failing}:compensate`)!][0]).toBe(`${outcome.id}:${failing}:compensate`)
    })
  }

  it('retries a participant before compensating, and succeeds if a retry does', async () => {
    const r = recorder({ 'b:action': 2 })
    const attempts: number[] = []
    const e = engine()
    const saga = e.register(
      defineSaga('order', [
        r.step('a'),
        {
          name: 'b',
          action: (ctx) => {
            attempts.push(ctx.attempt)
            return r.step('b').action(ctx)
          },
          compensate: () => {},
        },
      ]),
    )
    const outcome = await saga.run({})
    expect(outcome.status).toBe('COMPLETED')
    expect(attempts).toEqual([1, 2, 3])
  })

  it('does not retry a rejection, and compensates at once', async () => {
    let tries = 0
    const e = engine()
    const saga = e.register(
      defineSaga('order', [
        {
          name: 'stock',
          action: () => {
            tries += 1
            throw new SagaStepRejectedError('out of stock')
          },
          compensate: () => {},
        },
      ]),
    )
    const outcome = await saga.run({})
    expect(outcome.status).toBe('COMPENSATED')
    expect(outcome.error?.code).toBe('E_SAGA_STEP_REJECTED')
    expect(tries).toBe(1)
  })

  it('fails a step that exceeds its timeout', async () => {
    const e = engine()
    const saga = e.register(
      defineSaga('slow', [
        { name: 'hang', timeout: 20, action: () => new Promise(() => {}), compensate: () => {} },
      ]),
    )
    const outcome = await saga.run({})
    expect(outcome.status).toBe('COMPENSATED')
    expect(outcome.error).toMatchObject({ step: 'hang', code: 'E_TIMEOUT' })
  })

  it('after the pivot only goes forward: retries, then NEEDS_ATTENTION with an alert; retry() finishes it', async () => {
    const r = recorder()
    let shipping = 'broken'
    const shipped: string[] = []
    const alerts: SagaRecord[] = []
    const e = engine({ onAlert: (s) => void alerts.push(s) })
    const def = defineSaga('order', [
      r.step('reserve'),
      r.step('pay', 'pivot'),
      {
        name: 'ship',
        kind: 'retriable',
        action: (ctx) => {
          shipped.push(`${shipping}:${ctx.attempt}`)
          if (shipping === 'broken') throw new Error('carrier down')
        },
      },
    ])
    const outcome = await e.run(def, {})
    expect(outcome.status).toBe('NEEDS_ATTENTION')
    expect(outcome.attention).toMatchObject({
      phase: 'forward',
      step: 'ship',
      error: { message: 'carrier down' },
    })
    expect(r.calls).toEqual(['reserve:action', 'pay:action'])
    expect(shipped).toEqual(['broken:1', 'broken:2', 'broken:3'])
    expect(alerts.map((a) => a.id)).toEqual([outcome.id])

    shipping = 'fixed'
    const retried = await e.retry(outcome.id)
    expect(retried.status).toBe('COMPLETED')
    expect(shipped.slice(3)).toEqual(['fixed:1'])
    expect(r.calls).toEqual(['reserve:action', 'pay:action'])
  })

  it('a compensation that keeps failing leaves the saga NEEDS_ATTENTION; resolve() settles it by hand', async () => {
    const r = recorder({ 'b:action': 'always', 'a:compensate': 'always' })
    const alerts: string[] = []
    const e = engine({ onAlert: (s) => void alerts.push(s.attention!.step) })
    const saga = e.register(defineSaga('order', [r.step('a'), r.step('b')]))
    const outcome = await saga.run({})
    expect(outcome.status).toBe('NEEDS_ATTENTION')
    expect(outcome.attention).toMatchObject({
      phase: 'compensate',
      step: 'a',
      error: { message: 'a:compensate failed' },
    })
    expect(outcome.error).toMatchObject({ step: 'b' })
    expect(alerts).toEqual(['a'])
    const resolved = await e.resolve(outcome.id, { status: 'COMPENSATED', note: 'refunded by hand' })
    expect(resolved.status).toBe('COMPENSATED')
    expect(resolved.attention?.resolution).toBe('refunded by hand')
    await expect(e.retry(outcome.id)).rejects.toMatchObject({ code: 'E_SAGA_STATE' })
  })

  it('retry() resumes a failed compensation where it stopped', async () => {
    const r = recorder({ 'c:action': 'always', 'b:compensate': 3 })
    const e = engine()
    const saga = e.register(defineSaga('order', [r.step('a'), r.step('b'), r.step('c')]))
    const outcome = await saga.run({})
    expect(outcome.status).toBe('NEEDS_ATTENTION')
    const retried = await e.retry(outcome.id)
    expect(retried.status).toBe('COMPENSATED')
    expect(r.calls.filter((c) => c.endsWith(':compensate'))).toEqual([
      'c:compensate',
      'b:compensate',
      'b:compensate',
      'b:compensate',
      'b:compensate',
      'a:compensate',
    ])
  })

  it('run() with the same idempotency key returns the first saga, without running it again', async () => {
    const r = recorder()
    const e = engine()
    const saga = e.register(defineSaga('order', [r.step('a')]))
    const [first, second] = await Promise.all([
      saga.run({ n: 1 }, { idempotencyKey: 'same' }),
      saga.run({ n: 2 }, { idempotencyKey: 'same' }),
    ])
    const third = await saga.run({ n: 3 }, { idempotencyKey: 'same' })
    expect(new Set([first.id, second.id, third.id]).size).toBe(1)
    expect([first.created, second.created, third.created].filter(Boolean)).toHaveLength(1)
    expect(third.status).toBe('COMPLETED')
    expect(r.calls).toEqual(['a:action'])
  })

  it('counts and lists sagas by status', async () => {
    const r = recorder({ 'b:action': 'always' })
    const e = engine()
    const ok = e.register(defineSaga('ok', [r.step('a')]))
    const bad = e.register(defineSaga('bad', [r.step('a'), r.step('b')]))
    await ok.run({})
    await bad.run({})
    expect(await e.counts()).toMatchObject({ COMPLETED: 1, COMPENSATED: 1, RUNNING: 0 })
    expect((await e.list({ status: 'COMPENSATED' })).map((s) => s.name)).toEqual(['bad'])
  })

  it('rejects input that is not JSON before writing anything', async () => {
    const e = engine()
    const saga = e.register(defineSaga('order', [recorder().step('a')]))
    await expect(saga.run({ n: 1n } as unknown as object)).rejects.toMatchObject({ code: 'E_SERIALIZATION' })
    expect((await e.counts()).RUNNING).toBe(0)
  })
})

describe('defineSaga', () => {
  const step = { name: 's', action: () => {}, compensate: () => {} }
  it('rejects malformed definitions with E_SAGA_DEFINITION', () => {
    expect(() => defineSaga('x', [])).toThrow(/at least one step/)
    expect(() => defineSaga('x', [step, step])).toThrow(/two steps named s/)
    expect(() => defineSaga('x', [{ name: 'a', action: () => {} }])).toThrow(/needs a compensate/)
    expect(() =>
      defineSaga('x', [
        { name: 'p', kind: 'pivot', action: () => {} },
        { name: 'c', action: () => {}, compensate: () => {} },
      ]),
    ).toThrow(/out of order/)
    expect(() =>
      defineSaga('x', [
        { name: 'p', kind: 'pivot', action: () => {} },
        { name: 'q', kind: 'pivot', action: () => {} },
      ]),
    ).toThrow(/out of order/)
    expect(() => defineSaga('x', [{ ...step, name: 'a:b' }])).toThrow(/no ":"/)
    expect(() => defineSaga('x', [{ ...step, timeout: 'soon' as never }])).toThrow(/timeout/)
    expect(() => defineSaga('x', [])).toThrow(
      expect.objectContaining({ code: 'E_SAGA_DEFINITION', context: { saga: 'x' } }),
    )
  })
})
