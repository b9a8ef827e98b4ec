import { describe, expect, it } from 'vitest'
import { createMemoryBroker } from '../../src/memory/index.js'
import { orderEvent } from '../support/broker-events.js'
import { sleep, waitFor } from '../support/wait.js'

const event = (version: number) => orderEvent('a', version, null)

describe('memory broker', () => {
  it('forgets an id after the dedup window', async () => {
    const WINDOW = 1000 // wide enough that the second publish lands inside it on a loaded machine
    const broker = createMemoryBroker({ dedupWindow: WINDOW })
    const e = event(1)
    const first = Date.now()
    await broker.publish('t', [e])
    await broker.publish('t', [e])
    expect(Date.now() - first).toBeLessThan(WINDOW) // (so this one was inside the window: dropped)
    await sleep(WINDOW + 50)
    await broker.publish('t', [e]) // past it: forgotten, so stored again
    // Published last: the topic hands its events in order, so anything stored before arrives before this.
    const marker = event(2)
    await broker.publish('t', [marker])
    const seen: string[] = []
    await broker.subscribe('t', 'g', async (got) => void seen.push(got.id))
    await waitFor(() => seen.includes(marker.id), { what: 'the marker' })
    expect(seen).toEqual([e.id, e.id, marker.id])
    await broker.close()
  })

  it('keeps the newest maxMessages per topic', async () => {
    const broker = createMemoryBroker({ maxMessages: 3 })
    await broker.publish('t', [1, 2, 3, 4, 5].map(event))
    const seen: number[] = []
    await broker.subscribe('t', 'g', async (got) => void seen.push(got.aggregateVersion))
    await waitFor(() => seen.length === 3)
    expect(seen).toEqual([3, 4, 5])
    await broker.close()
  })

  it('rejects use after close and reports itself disconnected', async () => {
    const broker = createMemoryBroker()
    const sub = await broker.subscribe('t', 'g', async () => {})
    expect(broker.health()).toEqual({ connected: true, subscriptions: 1 })
    await broker.close()
    await sub.close()
    expect(broker.health()).toEqual({ connected: false, subscriptions: 0 })
    await expect(broker.publish('t', [event(1)])).rejects.toMatchObject({ code: 'E_CLOSED' })
    await expect(broker.subscribe('t', 'g', async () => {})).rejects.toMatchObject({ code: 'E_CLOSED' })
  })

  it('names a bad option', () => {
    expect(() => createMemoryBroker({ maxMessages: 0 })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTIONS' }),
    )
  })
})
