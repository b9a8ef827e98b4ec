import { describe, expect, it } from 'vitest'
import { type DeadLetter, DeliveryLimitError, encodeEnvelope, newEventId } from '../../src/broker/index.js'
import { type InboundMessage, KeyedDispatcher } from '../../src/broker/keyed-dispatcher.js'
import { parseSubscribeOptions, type SubscribeOptions } from '../../src/broker/subscribe-options.js'
import type { EventHandler } from '../../src/broker/types.js'
import { sleep, waitFor } from '../support/wait.js'

let seq = 0
const message = (key: string, version: number, deliveryCount = 1): InboundMessage => ({
  id: String(++seq),
  deliveryCount,
  data: encodeEnvelope({
    id: newEventId(),
    aggregateType: 'order',
    aggregateId: key,
    aggregateVersion: version,
    type: 'T',
    payload: null,
    headers: {},
    createdAt: new Date().toISOString(),
  }),
})

/** A settler that records what the dispatcher asked of the broker. */
function recordingSettler() {
  const log = { acked: [] as string[], released: [] as string[], keptAlive: [] as string[][] }
  return {
    log,
    settler: {
      ack: async (m: InboundMessage) => void log.acked.push(m.id),
      keepAlive: async (ms: InboundMessage[]) => void log.keptAlive.push(ms.map((m) => m.id)),
      release: async (ms: InboundMessage[]) => void log.released.push(...ms.map((m) => m.id)),
    },
  }
}

const dispatcher = (handler: EventHandler, opts: SubscribeOptions = {}) => {
  const { log, settler } = recordingSettler()
  const d = new KeyedDispatcher('t', 'g', handler, parseSubscribeOptions('test', opts), settler)
  return { d, log }
}

describe('keyed dispatcher', () => {
  it('dead-letters, without calling the handler, a message that arrives past maxDeliveries', async () => {
    const letters: DeadLetter[] = []
    let calls = 0
    const { d, log } = dispatcher(async () => void calls++, {
      maxDeliveries: 3,
      onDeadLetter: (l) => void letters.push(l),
    })
    const m = message('a', 1, 4)
    d.push(m)
    await waitFor(() => log.acked.length === 1)
    expect(calls).toBe(0)
    expect(letters[0]!.error).toBeInstanceOf(DeliveryLimitError)
    expect(letters[0]!.deliveryCount).toBe(4)
    await d.close()
  })

  it('keeps a dead letter (unacked, its aggregate blocked) until onDeadLetter succeeds', async () => {
    let failures = 0
    const handled: number[] = []
    const errors: unknown[] = []
    const { d, log } = dispatcher(
      async (e) => {
        if (e.aggregateVersion === 1) throw new Error('poison')
        handled.push(e.aggregateVersion)
      },
      {
        maxDeliveries: 1,
        backoff: ['20ms'],
        onDeadLetter: () => {
          if (failures++ < 2) throw new Error('dead-letter table down')
        },
        onError: (e) => void errors.push(e),
      },
    )
    const first = message('a', 1)
    d.push(first)
    d.push(message('a', 2))
    await waitFor(() => handled.length === 1)
    expect(failures).toBe(3)
    expect(errors).toHaveLength(2)
    expect(log.acked[0]).toBe(first.id)
    expect(d.stats()).toMatchObject({ deadLettered: 1, acked: 1, errors: 2, pending: 0 })
    await d.close()
  })

  it('drops a second copy of a message it still holds', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => {
      release = r
    })
    let calls = 0
    const { d } = dispatcher(async () => {
      calls++
      await gate
    })
    const m = message('a', 1)
    expect(d.push(m)).toBe(true)
    expect(d.push({ ...m })).toBe(false)
    release()
    await waitFor(() => d.stats().acked === 1)
    expect(calls).toBe(1)
    await d.close()
  })

  it('renews the hold on every message it keeps, queued or in backoff', async () => {
    const { d, log } = dispatcher(
      async () => {
        throw new Error('later')
      },
      { ackWait: 150, backoff: ['10s'] },
    )
    const a1 = message('a', 1)
    const a2 = message('a', 2)
    d.push(a1)
    d.push(a2)
    await waitFor(() => log.keptAlive.length >= 2)
    expect(log.keptAlive.at(-1)!.sort()).toEqual([a1.id, a2.id].sort())
    await d.close()
  })

  it('on close lets a running handler finish and be acked, and gives back the rest without calling it', async () => {
    const started: number[] = []
    const { d, log } = dispatcher(async (e) => {
      started.push(e.aggregateVersion)
      await sleep(100)
    })
    const msgs = [1, 2, 3].map((v) => message('a', v))
    for (const m of msgs) d.push(m)
    await waitFor(() => started.length === 1)
    await d.close()
    expect(started).toEqual([1])
    expect(log.acked).toEqual([msgs[0]!.id])
    expect(log.released.sort()).toEqual([msgs[1]!.id, msgs[2]!.id].sort())
    expect(d.push(message('a', 4))).toBe(false)
  })

  it('holds at most maxInFlight messages and at most concurrency handler calls', async () => {
    let running = 0
    let peak = 0
    const { d } = dispatcher(
      async () => {
        peak = Math.max(peak, ++running)
        await sleep(20)
        running--
      },
      { maxInFlight: 4, concurrency: 2 },
    )
    let taken = 0
    const producer = (async () => {
      for (let i = 0; i < 12; i++) {
        await d.capacity()
        expect(d.stats().pending).toBeLessThan(4)
        d.push(message(`k${i}`, 1))
        taken++
      }
    })()
    await producer
    await waitFor(() => d.stats().acked === 12)
    expect(taken).toBe(12)
    expect(peak).toBe(2)
    await d.close()
  })
})
