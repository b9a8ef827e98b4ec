import { describe, expect, it } from 'vitest'
import { ReadBatch } from '../../src/redis/read-batch.js'

/** A store whose calls are recorded; `fail` makes `many` reject for batches holding that key. */
function store(fail?: string) {
  const calls: string[][] = []
  const one = async (key: string) => {
    calls.push([key])
    return `v:${key}`
  }
  const many = async (keys: string[]) => {
    calls.push(keys)
    if (fail !== undefined && keys.includes(fail)) throw new Error('down')
    return keys.map((key) => `v:${key}`)
  }
  return { calls, one, many }
}

describe('ReadBatch', () => {
  it('sends the first read of a tick alone and the rest as one batch, each reader getting its own value', async () => {
    const s = store()
    const batch = new ReadBatch(s.one, s.many, 100)
    const keys = ['a', 'b', 'c', 'd']
    expect(await Promise.all(keys.map((k) => batch.get(k)))).toEqual(['v:a', 'v:b', 'v:c', 'v:d'])
    expect(s.calls).toEqual([['a'], ['b', 'c', 'd']])
  })

  it('starts over in the next tick: a lone reader pays one plain read', async () => {
    const s = store()
    const batch = new ReadBatch(s.one, s.many, 100)
    expect(await batch.get('a')).toBe('v:a')
    expect(await batch.get('b')).toBe('v:b')
    await Promise.all([batch.get('c'), batch.get('d')])
    expect(s.calls).toEqual([['a'], ['b'], ['c'], ['d']]) // a batch of one is a plain read too
  })

  it('splits a large tick into batches of at most `max`', async () => {
    const s = store()
    const batch = new ReadBatch(s.one, s.many, 3)
    const keys = Array.from({ length: 9 }, (_, i) => `k${i}`)
    expect(await Promise.all(keys.map((k) => batch.get(k)))).toEqual(keys.map((k) => `v:${k}`))
    expect(s.calls).toEqual([['k0'], ['k1', 'k2', 'k3'], ['k4', 'k5', 'k6'], ['k7', 'k8']])
  })

  it("rejects only the readers of a failed batch, with the store's error", async () => {
    const s = store('k5')
    const batch = new ReadBatch(s.one, s.many, 3)
    const results = await Promise.allSettled(Array.from({ length: 7 }, (_, i) => batch.get(`k${i}`)))
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
    ])
    expect((results[4] as PromiseRejectedResult).reason.message).toBe('down')
  })

  it('turns a store that throws synchronously into rejections, never a reader left waiting', async () => {
    const batch = new ReadBatch<string>(
      async (key) => key,
      () => {
        throw new Error('closed')
      },
      10,
    )
    const results = await Promise.allSettled([batch.get('a'), batch.get('b'), batch.get('c')])
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected'])
  })
})
