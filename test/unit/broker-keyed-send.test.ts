import { JetStreamApiError } from '@nats-io/jetstream'
import { InvalidArgumentError, TimeoutError } from '@nats-io/transport-node'
import { describe, expect, it } from 'vitest'
import { sendInKeyOrder } from '../../src/broker/keyed-send.js'
import { rejectionReason } from '../../src/nats/publish.js'

/** A send whose acknowledgements the test releases by hand, recording what is in flight. */
function manualSend(fail: (item: string) => unknown = () => undefined) {
  const sent: string[] = []
  const pending = new Map<string, () => void>()
  let inFlight = 0
  let maxInFlight = 0
  const send = (item: string) =>
    new Promise<void>((resolve, reject) => {
      sent.push(item)
      inFlight++
      maxInFlight = Math.max(maxInFlight, inFlight)
      pending.set(item, () => {
        inFlight--
        const error = fail(item)
        if (error) reject(error)
        else resolve()
      })
    })
  const ack = async (item: string) => {
    pending.get(item)!()
    pending.delete(item)
    await new Promise((r) => setImmediate(r))
  }
  return { send, sent, ack, pending, max: () => maxInFlight }
}

const keyOf = (item: string) => item[0]!

describe('sendInKeyOrder (pipelined NATS publish)', () => {
  it('sends one item per key at a time, in order, and a key goes on as soon as its ack arrives', async () => {
    const m = manualSend()
    const done = sendInKeyOrder(['a1', 'b1', 'a2', 'c1', 'a3', 'b2'], keyOf, m.send, {
      maxInFlight: 100,
      stopAll: () => true,
    })
    await new Promise((r) => setImmediate(r))
    expect(m.sent).toEqual(['a1', 'b1', 'c1'])
    await m.ack('a1') // no barrier: a2 goes while b1 and c1 are still unacknowledged
    expect(m.sent).toEqual(['a1', 'b1', 'c1', 'a2'])
    await m.ack('b1')
    await m.ack('a2')
    expect(m.sent).toEqual(['a1', 'b1', 'c1', 'a2', 'b2', 'a3'])
    for (const item of ['c1', 'b2', 'a3']) await m.ack(item)
    expect(await done).toEqual([])
  })

  it('caps the messages in flight', async () => {
    const m = manualSend()
    const items = Array.from({ length: 20 }, (_, i) => `${String.fromCharCode(97 + i)}1`)
    const done = sendInKeyOrder(items, keyOf, m.send, { maxInFlight: 4, stopAll: () => true })
    while (m.sent.length < items.length || m.pending.size > 0) {
      await new Promise((r) => setImmediate(r))
      await m.ack([...m.pending.keys()][0]!)
    }
    expect(await done).toEqual([])
    expect(m.max()).toBe(4)
  })

  it('a refused item stops its key only; an outage stops everything', async () => {
    const refused = manualSend((item) => (item === 'a1' ? new Error('refused') : undefined))
    const done = sendInKeyOrder(['a1', 'b1', 'a2', 'b2'], keyOf, refused.send, {
      maxInFlight: 10,
      stopAll: () => false,
    })
    await new Promise((r) => setImmediate(r))
    for (const item of ['a1', 'b1', 'b2']) await refused.ack(item)
    const failures = await done
    expect(refused.sent).toEqual(['a1', 'b1', 'b2'])
    expect(failures.map((f) => f.item)).toEqual(['a1'])

    const outage = manualSend((item) => (item === 'a1' ? new Error('down') : undefined))
    const stopped = sendInKeyOrder(['a1', 'b1', 'a2', 'b2'], keyOf, outage.send, {
      maxInFlight: 10,
      stopAll: () => true,
    })
    await new Promise((r) => setImmediate(r))
    await outage.ack('a1')
    await outage.ack('b1') // in flight when a1 failed: waited for, but b2 is never sent
    expect((await stopped).map((f) => f.item)).toEqual(['a1'])
    expect(outage.sent).toEqual(['a1', 'b1'])
  })

  it('a send that throws at once counts as that item failing', async () => {
    const failures = await sendInKeyOrder(
      ['a1', 'b1'],
      keyOf,
      (item) => {
        if (item === 'a1') throw new Error('sync')
        return Promise.resolve()
      },
      { maxInFlight: 10, stopAll: () => false },
    )
    expect(failures.map((f) => f.item)).toEqual(['a1'])
  })

  it('tells a refused message from an outage', () => {
    const api = (err_code: number) => new JetStreamApiError({ code: 400, err_code, description: 'x' })
    expect(rejectionReason(new InvalidArgumentError("'payload' max_payload size exceeded"))).toMatch(
      /max_payload/,
    )
    expect(rejectionReason(api(10054))).toBeDefined() // over the stream's max_msg_size
    expect(rejectionReason(api(10059))).toBeUndefined() // stream not found: set it up again, retry
    expect(rejectionReason(api(10047))).toBeUndefined() // insufficient resources: the stream, not the event
    expect(rejectionReason(new TimeoutError())).toBeUndefined()
    expect(rejectionReason(new Error('connection closed'))).toBeUndefined()
  })
})
