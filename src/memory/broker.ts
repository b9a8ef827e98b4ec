import { z } from 'zod'
import type { Broker, BrokerHealth, EventHandler, Subscription } from '../broker/kit.js'
import {
  checkName,
  type EventEnvelope,
  encodeEnvelope,
  type InboundMessage,
  KeyedDispatcher,
  parseSubscribeOptions,
  type SubscribeOptions,
  track,
} from '../broker/kit.js'
import { ClosedError } from '../errors.js'
import { type Duration, duration, parseOptions } from '../options.js'
import { type MemoryGroup, MemoryLog } from './broker-log.js'

export const memorySchema = z.object({
  /** How long a published id is remembered for deduplication. @default 2m (JetStream's default window) */
  dedupWindow: duration.default(120_000),
  /** Messages kept per topic; the oldest are dropped beyond it, read or not. @default 100000 */
  maxMessages: z.number().int().min(1).default(100_000),
})

export interface MemoryBrokerOptions {
  /** How long a published id is remembered for deduplication. @default 2m (JetStream's default window) */
  dedupWindow?: Duration
  /** Messages kept per topic; the oldest are dropped beyond it, read or not. @default 100000 */
  maxMessages?: number
}

/** The in-process broker, plus a way to store raw bytes (to exercise poison-message handling). */
export interface MemoryBroker extends Broker {
  /** Stores `data` on `topic` as is, unvalidated, as another producer could. */
  publishRaw(topic: string, data: Uint8Array): Promise<void>
}

interface MemoryMessage extends InboundMessage {
  seq: number
}

/**
 * The embedded broker: one process, no durability across restarts, the same delivery semantics as the others
 * (groups, at-least-once, per-aggregate order in a subscriber, retries, dead letters, dedup by id).
 */
export function createMemoryBroker(opts?: MemoryBrokerOptions): MemoryBroker {
  const options = parseOptions('createMemoryBroker', memorySchema, opts)
  const logs = new Map<string, MemoryLog>()
  const seen = new Map<string, number>() // `${topic} ${id}` -> expiry; insertion order is expiry order
  const subscriptions = new Set<Subscription>()
  let closed = false

  const logOf = (topic: string) => {
    let log = logs.get(topic)
    if (!log) {
      log = new MemoryLog(options.maxMessages)
      logs.set(topic, log)
    }
    return log
  }

  const forget = (now: number) => {
    for (const [key, expiry] of seen) {
      if (expiry > now) break
      seen.delete(key)
    }
  }

  return {
    system: 'memory',
    async publish(topic: string, events: EventEnvelope[]): Promise<void> {
      if (closed) throw new ClosedError('memory broker')
      checkName('topic', topic)
      const encoded = events.map((event) => ({ id: event.id, data: encodeEnvelope(event) }))
      const now = Date.now()
      forget(now)
      const log = logOf(topic)
      for (const { id, data } of encoded) {
        const key = `${topic} ${id}`
        if (seen.has(key)) continue
        seen.set(key, now + options.dedupWindow)
        log.append(data)
      }
    },

    async publishRaw(topic: string, data: Uint8Array): Promise<void> {
      if (closed) throw new ClosedError('memory broker')
      checkName('topic', topic)
      logOf(topic).append(data)
    },

    async subscribe(topic: string, group: string, handler: EventHandler, opts?: SubscribeOptions) {
      if (closed) throw new ClosedError('memory broker')
      checkName('topic', topic)
      checkName('group', group)
      const sub = memorySubscription(topic, group, logOf(topic).group(group), handler, opts)
      return track(subscriptions, sub)
    },

    health(): BrokerHealth {
      return { connected: !closed, subscriptions: subscriptions.size }
    },

    async close(): Promise<void> {
      closed = true
      await Promise.all([...subscriptions].map((s) => s.close()))
    },
  }
}

function memorySubscription(
  topic: string,
  groupName: string,
  group: MemoryGroup,
  handler: EventHandler,
  opts: SubscribeOptions | undefined,
): Subscription {
  const options = parseSubscribeOptions('createMemoryBroker.subscribe', opts)
  const dispatcher = new KeyedDispatcher<MemoryMessage>(topic, groupName, handler, options, {
    system: 'memory',
    ack: async (m) => group.ack(m.seq),
    keepAlive: async () => {}, // a live memory subscriber cannot lose its messages to another
    release: async (ms) => group.release(ms.map((m) => m.seq)),
  })
  let closed = false

  const loop = (async () => {
    while (!closed) {
      await dispatcher.capacity()
      if (closed) break
      const next = group.take()
      if (!next) {
        await group.changed(1_000)
        continue
      }
      const { message, deliveries } = next
      dispatcher.push({
        id: String(message.seq),
        seq: message.seq,
        data: message.data,
        deliveryCount: deliveries,
      })
    }
  })()

  return {
    async close() {
      if (closed) return
      closed = true
      group.wake()
      await loop
      await dispatcher.close()
    },
    stats: () => dispatcher.stats(),
  }
}
