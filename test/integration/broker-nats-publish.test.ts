import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Broker, type EventEnvelope, MessageRejectedError } from '../../src/broker/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { orderEvent } from '../support/broker-events.js'
import { outOfOrder } from '../support/outbox-fixtures.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

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

  /**
   * Everything stored on `topic` for the aggregates `keys`: a marker is published last for each, and the
   * stream hands an aggregate its events in order, so once every marker arrived nothing stored before it is
   * still to come. Returns what came before the markers.
   */
  async function collect(topic: string, keys: readonly string[]): Promise<EventEnvelope[]> {
    const markers = new Set<string>()
    for (const key of keys) {
      const marker = { ...event(key, 1_000_000), type: 'Marker' }
      markers.add(marker.id)
      await broker.publish(topic, [marker])
    }
    const seen: EventEnvelope[] = []
    const sub = await broker.subscribe(topic, 'check', async (e) => {
      seen.push(e)
    })
    await waitFor(() => seen.filter((e) => markers.has(e.id)).length === markers.size, {
      timeoutMs: 10_000,
      what: `${markers.size} markers`,
    })
    await sub.close()
    return seen.filter((e) => !markers.has(e.id))
  }

  it('stores a large batch of many aggregates, each in order', async () => {
    const events: EventEnvelope[] = []
    for (let v = 1; v <= 20; v++) for (let a = 0; a < 50; a++) events.push(event(`o${a}`, v))
    await broker.publish('many', events)
    await broker.publish('many', events.slice(0, 100)) // deduplicated by id
    const seen = await collect(
      'many',
      Array.from({ length: 50 }, (_, a) => `o${a}`),
    )
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
    const seen = await collect('refused', ['a', 'b'])
    expect(seen.map((e) => e.id).sort()).toEqual([a1.id, b1.id, b2.id].sort())
  })
})
