import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type Broker,
  type DeadLetter,
  type EventEnvelope,
  MalformedEventError,
  newEventId,
  type Subscription,
} from '../broker/index.js'
import { sleep, waitFor } from './wait.js'

/** What the contract needs from an adapter under test. */
export interface BrokerFixture {
  /** The broker the tests use. */
  broker: Broker
  /** Another client of the same broker and namespace, as a second process would have (memory: the same one). */
  connect(): Broker
  /** A broker of its own that a test may close without ending the others (memory: a new one). */
  open(): Broker
  /** Stores raw bytes on a topic, bypassing envelope validation, as a foreign producer could. */
  publishRaw(topic: string, data: Uint8Array): Promise<void>
  /** Closes every broker it made and removes what it created. */
  close(): Promise<void>
}

let topicCounter = 0
const newTopic = (label: string) => `${label}-${++topicCounter}-${Math.random().toString(36).slice(2, 8)}`

/** A valid event of aggregate `order/<key>` at `version`, with a trace context. */
export function brokerEvent(
  key: string,
  version: number,
  type = 'OrderPlaced',
): EventEnvelope<{ n: number }> {
  return {
    id: newEventId(),
    aggregateType: 'order',
    aggregateId: key,
    aggregateVersion: version,
    type,
    payload: { n: version },
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
    createdAt: new Date().toISOString(),
  }
}

/** Records handler calls; `label` is `key:version`. */
class Recorder {
  readonly calls: { label: string; id: string; deliveryCount: number; redelivered: boolean; at: number }[] =
    []
  readonly handled: string[] = []
  record(e: EventEnvelope, meta: { deliveryCount: number; redelivered: boolean }) {
    this.calls.push({ label: label(e), id: e.id, ...meta, at: Date.now() })
  }
  async until(count: number, what = `${count} handled`) {
    await waitFor(() => this.handled.length >= count, { timeoutMs: 15_000, what })
  }
}

const label = (e: EventEnvelope) => `${e.aggregateId}:${e.aggregateVersion}`

export interface BrokerContractOptions {
  /** Names the suite: `broker contract: <name>`. */
  name: string
  /** Called once before the tests; each test takes its own topic. */
  create(): Promise<BrokerFixture>
}

/**
 * The broker port's contract: every adapter (memory, NATS JetStream, Redis Streams, and yours) runs these
 * tests unchanged. Registers a vitest `describe` block.
 */
export function runBrokerContract({ name, create }: BrokerContractOptions): void {
  const setup = create
  const event = brokerEvent
  describe(`broker contract: ${name}`, () => {
    let fx: BrokerFixture
    const subs: Subscription[] = []
    const track = (sub: Subscription) => {
      subs.push(sub)
      return sub
    }

    beforeAll(async () => {
      fx = await setup()
    })
    afterAll(async () => {
      await Promise.all(subs.map((s) => s.close()))
      await fx?.close()
    })

    it('delivers published events, intact, to a subscriber', async () => {
      const topic = newTopic('roundtrip')
      const events = [event('a', 1), event('a', 2), event('b', 1)]
      await fx.broker.publish(topic, events)
      const got: EventEnvelope[] = []
      const rec = new Recorder()
      track(
        await fx.broker.subscribe(topic, 'g', async (e, meta) => {
          rec.record(e, meta)
          got.push(e)
          rec.handled.push(label(e))
        }),
      )
      await rec.until(3)
      expect(new Set(got.map((e) => e.id))).toEqual(new Set(events.map((e) => e.id)))
      expect(got.find((e) => e.id === events[1]!.id)).toEqual(events[1])
      expect(rec.calls.every((c) => c.deliveryCount === 1 && !c.redelivered)).toBe(true)
      expect(fx.broker.health().connected).toBe(true)
    })

    it('drops a republished event id (within one batch and across batches)', async () => {
      const topic = newTopic('dedup')
      const [a, b, c] = [event('a', 1), event('a', 2), event('a', 3)]
      await fx.broker.publish(topic, [a!, b!, a!])
      await fx.broker.publish(topic, [a!, b!, c!])
      await fx.connect().publish(topic, [c!])
      // Published last, after every copy: an aggregate's events arrive in order, so a copy that got through
      // would be handled before this one.
      await fx.broker.publish(topic, [event('a', 4)])
      const rec = new Recorder()
      track(
        await fx.broker.subscribe(topic, 'g', async (e) => {
          rec.handled.push(label(e))
        }),
      )
      await waitFor(() => rec.handled.includes('a:4'), { timeoutMs: 15_000, what: 'the marker event' })
      expect(rec.handled).toEqual(['a:1', 'a:2', 'a:3', 'a:4'])
    })

    it('rejects an invalid envelope on publish with a typed error', async () => {
      const bad = { ...event('a', 1), aggregateVersion: -1 }
      await expect(fx.broker.publish(newTopic('invalid'), [bad])).rejects.toBeInstanceOf(MalformedEventError)
    })

    it('hands an aggregate its events one at a time, in order, a failed one blocking the later ones', async () => {
      const topic = newTopic('order')
      const keys = ['k0', 'k1', 'k2', 'k3']
      const events = [1, 2, 3, 4, 5].flatMap((v) => keys.map((k) => event(k, v)))
      await fx.broker.publish(topic, events)
      const rec = new Recorder()
      const active = new Map<string, number>()
      let maxPerKey = 0
      let maxOverall = 0
      let running = 0
      let k0v2Failures = 0
      track(
        await fx.broker.subscribe(
          topic,
          'g',
          async (e, meta) => {
            rec.record(e, meta)
            const n = (active.get(e.aggregateId) ?? 0) + 1
            active.set(e.aggregateId, n)
            running++
            maxPerKey = Math.max(maxPerKey, n)
            maxOverall = Math.max(maxOverall, running)
            try {
              await sleep(15)
              if (label(e) === 'k0:2' && k0v2Failures < 2) {
                k0v2Failures++
                throw new Error('not yet')
              }
              rec.handled.push(label(e))
            } finally {
              active.set(e.aggregateId, n - 1)
              running--
            }
          },
          { concurrency: 4, backoff: ['150ms'] },
        ),
      )
      await rec.until(20)
      for (const k of keys) {
        expect(rec.handled.filter((l) => l.startsWith(`${k}:`))).toEqual(
          [1, 2, 3, 4, 5].map((v) => `${k}:${v}`),
        )
      }
      const k0calls = rec.calls.filter((c) => c.label.startsWith('k0:')).map((c) => c.label)
      expect(k0calls).toEqual(['k0:1', 'k0:2', 'k0:2', 'k0:2', 'k0:3', 'k0:4', 'k0:5'])
      expect(maxPerKey).toBe(1)
      expect(maxOverall).toBeGreaterThan(1)
      // Other aggregates did not wait for k0's retries.
      expect(rec.handled.indexOf('k1:5')).toBeLessThan(rec.handled.indexOf('k0:2'))
    })

    it('retries a failing handler after its backoff, counting deliveries, then acks', async () => {
      const topic = newTopic('backoff')
      const e = event('a', 1)
      await fx.broker.publish(topic, [e])
      const rec = new Recorder()
      const sub = track(
        await fx.broker.subscribe(
          topic,
          'g',
          async (ev, meta) => {
            rec.record(ev, meta)
            if (meta.deliveryCount < 3) throw new Error(`fail ${meta.deliveryCount}`)
            rec.handled.push(label(ev))
          },
          { backoff: ['100ms', '250ms'], maxDeliveries: 5 },
        ),
      )
      await rec.until(1)
      expect(rec.calls.map((c) => [c.deliveryCount, c.redelivered])).toEqual([
        [1, false],
        [2, true],
        [3, true],
      ])
      const [t1, t2, t3] = rec.calls.map((c) => c.at)
      expect(t2! - t1!).toBeGreaterThanOrEqual(90)
      expect(t3! - t2!).toBeGreaterThanOrEqual(240)
      await waitFor(() => sub.stats().acked === 1)
      expect(sub.stats()).toMatchObject({ delivered: 3, nakked: 2, acked: 1, deadLettered: 0, pending: 0 })
    })

    it('dead-letters a message after maxDeliveries with its last error; later messages still flow', async () => {
      const topic = newTopic('poison')
      const poison = event('a', 1, 'Poison')
      await fx.broker.publish(topic, [poison, event('a', 2), event('b', 1)])
      const rec = new Recorder()
      const letters: DeadLetter[] = []
      const sub = track(
        await fx.broker.subscribe(
          topic,
          'g',
          async (e, meta) => {
            rec.record(e, meta)
            if (e.type === 'Poison') throw new Error(`boom ${meta.deliveryCount}`)
            rec.handled.push(label(e))
          },
          { maxDeliveries: 3, backoff: ['20ms'], onDeadLetter: (d) => void letters.push(d) },
        ),
      )
      await rec.until(2)
      expect(letters).toHaveLength(1)
      const [letter] = letters
      expect(letter).toMatchObject({ topic, group: 'g', reason: 'max-deliveries', deliveryCount: 3 })
      expect(letter!.event).toEqual(poison)
      expect((letter!.error as Error).message).toBe('boom 3')
      expect(rec.calls.filter((c) => c.label === 'a:1')).toHaveLength(3)
      expect(rec.handled).toContain('a:2')
      expect(rec.calls.findIndex((c) => c.label === 'a:2')).toBeGreaterThan(
        rec.calls.findLastIndex((c) => c.label === 'a:1'),
      )
      await waitFor(() => sub.stats().deadLettered === 1 && sub.stats().pending === 0)
    })

    it('dead-letters malformed bodies with a typed error and keeps consuming', async () => {
      const topic = newTopic('malformed')
      await fx.broker.publish(topic, [event('a', 1)])
      await fx.publishRaw(topic, new Uint8Array([0xff, 0xfe, 0x00]))
      await fx.publishRaw(topic, new TextEncoder().encode(JSON.stringify({ id: 'nope', payload: 1 })))
      await fx.broker.publish(topic, [event('a', 2)])
      const rec = new Recorder()
      const letters: DeadLetter[] = []
      const sub = track(
        await fx.broker.subscribe(topic, 'g', async (e) => void rec.handled.push(label(e)), {
          onDeadLetter: (d) => void letters.push(d),
        }),
      )
      await rec.until(2)
      await waitFor(() => letters.length === 2)
      expect(rec.handled).toEqual(['a:1', 'a:2'])
      for (const letter of letters) {
        expect(letter.reason).toBe('malformed')
        expect(letter.event).toBeUndefined()
        expect(letter.error).toBeInstanceOf(MalformedEventError)
        expect((letter.error as MalformedEventError).code).toBe('E_MALFORMED_EVENT')
      }
      expect(letters.map((l) => l.data.length).sort()).toEqual(
        [3, JSON.stringify({ id: 'nope', payload: 1 }).length].sort(),
      )
      await waitFor(() => sub.stats().deadLettered === 2)
    })

    it('shares a group between subscribers: each message handled once', async () => {
      const topic = newTopic('share')
      const events = Array.from({ length: 40 }, (_, i) => event(`k${i % 20}`, Math.floor(i / 20) + 1))
      await fx.broker.publish(topic, events)
      const seen: string[][] = [[], []]
      const handler = (i: number) => async (e: EventEnvelope) => {
        await sleep(10)
        seen[i]!.push(e.id)
      }
      const opts = { maxInFlight: 2, concurrency: 2 }
      const shared = [
        track(await fx.broker.subscribe(topic, 'g', handler(0), opts)),
        track(await fx.connect().subscribe(topic, 'g', handler(1), opts)),
      ]
      // Every message acknowledged and none held: the group has nothing left that could come a second time.
      await waitFor(
        () =>
          shared.reduce((n, sub) => n + sub.stats().acked, 0) >= 40 &&
          shared.every((sub) => sub.stats().pending === 0),
        { timeoutMs: 15_000, what: '40 acknowledged, none pending' },
      )
      expect(shared.reduce((n, sub) => n + sub.stats().acked, 0)).toBe(40)
      expect(seen[0]!.length).toBeGreaterThan(0)
      expect(seen[1]!.length).toBeGreaterThan(0)
      expect(seen[0]!.length + seen[1]!.length).toBe(40)
      expect(new Set([...seen[0]!, ...seen[1]!])).toEqual(new Set(events.map((e) => e.id)))
    })

    it('gives every group every message', async () => {
      const topic = newTopic('groups')
      const events = [event('a', 1), event('b', 1), event('a', 2)]
      await fx.broker.publish(topic, events)
      const g1 = new Recorder()
      const g2 = new Recorder()
      const groups = [
        track(await fx.broker.subscribe(topic, 'one', async (e) => void g1.handled.push(label(e)))),
        track(await fx.broker.subscribe(topic, 'two', async (e) => void g2.handled.push(label(e)))),
      ]
      // Each group acknowledged all three and holds none: nothing is left to deliver twice.
      await waitFor(() => groups.every((sub) => sub.stats().acked >= 3 && sub.stats().pending === 0), {
        timeoutMs: 15_000,
        what: 'each group to settle three',
      })
      expect(groups.map((sub) => sub.stats().acked)).toEqual([3, 3])
      expect(g1.handled.sort()).toEqual(['a:1', 'a:2', 'b:1'])
      expect(g2.handled.sort()).toEqual(['a:1', 'a:2', 'b:1'])
    })

    it('resumes a group where it left off after close and resubscribe (durable)', async () => {
      const topic = newTopic('durable')
      const first = [1, 2, 3].map((v) => event('a', v))
      await fx.broker.publish(topic, first)
      const before = new Recorder()
      const sub = await fx.broker.subscribe(topic, 'g', async (e) => void before.handled.push(label(e)))
      await before.until(3)
      await waitFor(() => sub.stats().acked === 3)
      await sub.close()
      await fx.broker.publish(
        topic,
        [4, 5].map((v) => event('a', v)),
      )

      const after = new Recorder()
      track(await fx.connect().subscribe(topic, 'g', async (e) => void after.handled.push(label(e))))
      // In order per aggregate: an event of the first three handed out again would come before a:5.
      await waitFor(() => after.handled.includes('a:5'), { timeoutMs: 15_000, what: 'a:5' })
      expect(after.handled).toEqual(['a:4', 'a:5'])
    })

    it('gives back what a closing subscriber held, for the next one, in order', async () => {
      const topic = newTopic('handover')
      await fx.broker.publish(
        topic,
        Array.from({ length: 10 }, (_, i) => event('a', i + 1)),
      )
      const handled: number[] = []
      const slow = await fx.broker.subscribe(topic, 'g', async (e) => {
        await sleep(40)
        handled.push(e.aggregateVersion)
      })
      await waitFor(() => handled.length >= 3)
      await slow.close()
      const stopped = handled.length
      expect(stopped).toBeLessThan(10)

      track(await fx.connect().subscribe(topic, 'g', async (e) => void handled.push(e.aggregateVersion)))
      await waitFor(() => handled.includes(10), { timeoutMs: 15_000 })
      const resumed = handled.slice(stopped)
      // In order from the first unhandled one; nothing skipped.
      expect(resumed).toEqual(Array.from({ length: 10 - stopped }, (_, i) => stopped + i + 1))
    })

    it('rejects operations after close', async () => {
      const other = fx.open()
      expect(other).not.toBe(fx.broker)
      const topic = newTopic('closed')
      await other.publish(topic, [event('a', 1)]) // works while open: the rejections below are the close's
      await other.close()
      await expect(other.publish(topic, [event('a', 2)])).rejects.toMatchObject({ code: 'E_CLOSED' })
      await expect(other.subscribe(topic, 'g', async () => {})).rejects.toMatchObject({ code: 'E_CLOSED' })
      expect(other.health().connected).toBe(false)
    })
  })
}
