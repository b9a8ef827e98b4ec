import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Broker, type EventEnvelope, MessageRejectedError } from '../../src/broker/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { orderEvent } from '../support/broker-events.js'
import { outOfOrder } from '../support/outbox-fixtures.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

const event = orderEvent

// The pipelined publish on a real nats-server: every aggregate's events in order, and a refused message
// reported as that message's own failure (MessageRejectedError), not as the broker being down.
describe('nats broker: publish', () => {
  let broker: Broker
  beforeAll(() => {
    broker = createNatsBroker({ servers: sharedServices().nats.url, prefix: uniqueName('pub') })
  })
  afterAll(async () => {
    await broker?.close()
  })

  async function collect(topic: string, count: number): Promise<EventEnvelope[]> {
    const seen: EventEnvelope[] = []
    const sub = await broker.subscribe(topic, 'check', async (e) => {
      seen.push(e)
    })
    await waitFor(() => seen.length >= count, { timeoutMs: 10_000, what: `${count} events` })
    await sleep(300) // nothing more arrives
    await sub.close()
    return seen
  }

  it('stores a large batch of many aggregates, each in order', async () => {
    const events: EventEnvelope[] = []
    for (let v = 1; v <= 20; v++) for (let a = 0; a < 50; a++) events.push(event(`o${a}`, v))
    await broker.publish('many', events)
    await broker.publish('many', events.slice(0, 100)) // deduplicated by id
    const seen = await collect('many', events.length)
    expect(seen).toHaveLength(events.length)
    expect(outOfOrder(seen)).toEqual([])
  })

  it('rejects a message over max_payload as MessageRejectedError naming it; its aggregate stops, others are stored', async () => {
    const a1 = event('a', 1)
    const big = event('a', 2, 'x'.repeat(2_000_000))
    const a3 = event('a', 3)
    const b1 = event('b', 1)
    const b2 = event('b', 2)
    const error = await broker.publish('refused', [a1, big, a3, b1, b2]).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MessageRejectedError)
    expect(error).toMatchObject({ code: 'E_MESSAGE_REJECTED', eventId: big.id })
    expect((error as Error).message).toMatch(/max_payload/)
    expect(broker.health().connected).toBe(true)
    const seen = await collect('refused', 3)
    expect(seen.map((e) => e.id).sort()).toEqual([a1.id, b1.id, b2.id].sort())
  })
})
