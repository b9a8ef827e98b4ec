import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../../src/backoff.js'
import { checkName } from '../../src/broker/names.js'
import { parseSubscribeOptions } from '../../src/broker/subscribe-options.js'

describe('backoff', () => {
  it('grows exponentially up to its max, jitter only shortening', () => {
    const policy = { initial: 100, max: 1_000, factor: 2, jitter: 0 }
    expect([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(policy, n))).toEqual([100, 200, 400, 800, 1_000, 1_000])
    const jittered = { ...policy, jitter: 0.5 }
    expect(backoffDelay(jittered, 2, () => 1)).toBe(100)
    expect(backoffDelay(jittered, 2, () => 0)).toBe(200)
  })

  it('takes a list of delays, repeating the last', () => {
    expect([1, 2, 3, 7].map((n) => backoffDelay([10, 20, 50], n))).toEqual([10, 20, 50, 50])
  })

  it('parses durations people write, and names a bad option', () => {
    const parsed = parseSubscribeOptions('test', { backoff: ['250ms', '2s'], ackWait: '1m' })
    expect(parsed.backoff).toEqual([250, 2_000])
    expect(parsed.ackWait).toBe(60_000)
    expect(parsed.maxDeliveries).toBe(5)
    expect(() => parseSubscribeOptions('test', { maxDeliveries: 0 })).toThrow(/maxDeliveries/)
    expect(() => parseSubscribeOptions('test', { backoff: ['soon'] })).toThrow(/backoff/)
  })
})

describe('topic and group names', () => {
  it('accepts the safe alphabet and rejects the rest with E_INVALID_INPUT', () => {
    expect(() => checkName('topic', 'orders_v2-eu')).not.toThrow()
    for (const bad of ['', 'a.b', 'a b', 'a*', 'a>', 'x'.repeat(65)]) {
      expect(() => checkName('topic', bad)).toThrow(expect.objectContaining({ code: 'E_INVALID_INPUT' }))
    }
  })
})
