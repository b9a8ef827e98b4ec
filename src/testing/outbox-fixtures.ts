import type { Broker, EventEnvelope } from '../broker/index.js'
import { BrokerUnavailableError, MessageRejectedError } from '../broker/index.js'
import { createMemoryBroker } from '../memory/index.js'

/**
 * A real memory broker wrapped to record every publish call in order, and to fail on demand: `poison(id)` makes
 * publishes containing that event throw a non-transient error, `down(true)` makes every publish throw
 * BrokerUnavailableError (the broker port's chaos wrapper, as bentocache's ChaosBus).
 */
export interface RecordingBroker {
  /** The broker to hand to a relay. */
  broker: Broker
  /** Every event stored, in publish order. */
  published: { topic: string; event: EventEnvelope }[]
  /** Publish calls so far, failed ones included. */
  calls(): number
  /** Publishes containing this event fail with `MessageRejectedError` (the events before it are stored). */
  poison(id: string): void
  /** Lets publishes containing this event succeed again. */
  cure(id: string): void
  /** While down, every publish fails with `BrokerUnavailableError`. */
  down(value: boolean): void
}

/** A memory broker that records what a relay publishes and can fail chosen publishes, for outbox tests. */
export function recordingBroker(): RecordingBroker {
  const inner = createMemoryBroker()
  const published: { topic: string; event: EventEnvelope }[] = []
  const poisoned = new Set<string>()
  let isDown = false
  let calls = 0
  const broker: Broker = {
    async publish(topic, events) {
      calls++
      if (isDown) throw new BrokerUnavailableError('chaos', 'publish')
      const bad = events.find((e) => poisoned.has(e.id))
      if (bad) {
        // Like a real broker: events before the bad one may be stored.
        const before = events.slice(0, events.indexOf(bad))
        await inner.publish(topic, before)
        for (const event of before) published.push({ topic, event })
        throw new MessageRejectedError('chaos', bad.id, 'payload too large')
      }
      await inner.publish(topic, events)
      for (const event of events) published.push({ topic, event })
    },
    subscribe: (...args) => inner.subscribe(...args),
    health: () => ({ ...inner.health(), connected: !isDown }),
    close: () => inner.close(),
  }
  return {
    broker,
    published,
    calls: () => calls,
    poison: (id: string) => void poisoned.add(id),
    cure: (id: string) => void poisoned.delete(id),
    down: (value: boolean) => {
      isDown = value
    },
  }
}

/**
 * Versions seen per aggregate, in publish order (a republished id is skipped: at-least-once allows it);
 * returns the aggregates whose versions went backwards or repeated.
 */
export function outOfOrder(events: EventEnvelope[]): string[] {
  const last = new Map<string, number>()
  const bad = new Set<string>()
  const seen = new Set<string>()
  for (const e of events) {
    if (seen.has(e.id)) continue
    seen.add(e.id)
    const key = `${e.aggregateType}/${e.aggregateId}`
    const prev = last.get(key)
    if (prev !== undefined && e.aggregateVersion <= prev) bad.add(key)
    last.set(key, e.aggregateVersion)
  }
  return [...bad]
}
