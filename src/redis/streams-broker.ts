import type { Redis } from 'ioredis'
import type { Broker, BrokerHealth, Subscription } from '../broker/kit.js'
import {
  BrokerUnavailableError,
  checkName,
  type EventEnvelope,
  encodeEnvelope,
  parseSubscribeOptions,
  track,
  within,
} from '../broker/kit.js'
import { ClosedError } from '../errors.js'
import { parseOptions } from '../options.js'
import { describeTarget } from './connection.js'
import { createClient, streamKey, whenReady } from './streams-keys.js'
import { type RedisStreamsBrokerOptions, redisStreamsSchema } from './streams-options.js'
import { definePublish, publishEntries } from './streams-publish.js'
import { redisStreamsSubscription } from './streams-subscription.js'

export type { RedisStreamsBrokerOptions } from './streams-options.js'

/** The Redis Streams adapter, plus raw access for tests of poison-message handling. */
export interface RedisStreamsBroker extends Broker {
  /** Appends `data` to the topic's stream as is, unvalidated, as another producer could. */
  publishRaw(topic: string, data: Uint8Array): Promise<void>
}

/**
 * The Redis Streams adapter: a stream per topic (`${prefix}:{topic}`), a consumer group per group (created at
 * the start of the stream), one consumer per subscriber. Publish runs one Lua script per batch: per event a
 * `SET NX PX dedupWindow` on its id and, if new, an `XADD`, so dedup and append cannot come apart.
 * Stuck entries (a dead subscriber's) are taken over with `XAUTOCLAIM` after `ackWait`.
 */
export function createRedisStreamsBroker(opts: RedisStreamsBrokerOptions): RedisStreamsBroker {
  const options = parseOptions('createRedisStreamsBroker', redisStreamsSchema, opts)
  let lastError: string | undefined
  const cmd: Redis = createClient(options, (error) => {
    lastError = error.message
  })
  definePublish(cmd)
  const subscriptions = new Set<Subscription>()
  let closed = false
  const server = describeTarget(options)
  const unavailable = (operation: string, cause?: unknown) =>
    new BrokerUnavailableError('redis-streams', operation, cause, { server, lastError })

  /** Runs `work` once connected, all within the publish timeout; any failure is a BrokerUnavailableError. */
  const bounded = async <T>(operation: string, work: () => Promise<T>): Promise<T> => {
    if (closed) throw new ClosedError('redis streams broker')
    const deadline = Date.now() + options.publishTimeout
    try {
      await whenReady(cmd, options.publishTimeout, () => unavailable(operation))
      return await within(work(), Math.max(1, deadline - Date.now()), () => unavailable(operation))
    } catch (error) {
      throw error instanceof BrokerUnavailableError ? error : unavailable(operation, error)
    }
  }

  return {
    system: 'redis',
    async publish(topic: string, events: EventEnvelope[]): Promise<void> {
      checkName('topic', topic)
      const entries = events.map((event) => ({ id: event.id, data: encodeEnvelope(event) }))
      if (closed) throw new ClosedError('redis streams broker')
      if (entries.length === 0) return
      await bounded('publish', () =>
        publishEntries(cmd, options.prefix, topic, entries, options.dedupWindow, options.maxLen),
      )
    },

    async publishRaw(topic: string, data: Uint8Array): Promise<void> {
      checkName('topic', topic)
      await bounded('publish', () => cmd.xadd(streamKey(options.prefix, topic), '*', 'd', Buffer.from(data)))
    },

    async subscribe(topic, group, handler, subscribeOpts) {
      checkName('topic', topic)
      checkName('group', group)
      const subscribe = parseSubscribeOptions('createRedisStreamsBroker.subscribe', subscribeOpts)
      const key = streamKey(options.prefix, topic)
      await bounded('subscribe', async () => {
        // From id 0: a new group reads the stream's retained entries, like a JetStream consumer with DeliverAll.
        await cmd.xgroup('CREATE', key, group, '0', 'MKSTREAM').catch((error: Error) => {
          if (!/BUSYGROUP/.test(error.message)) throw error
        })
      })
      const sub = redisStreamsSubscription({ cmd, options, key, topic, group, handler, subscribe })
      return track(subscriptions, sub)
    },

    health(): BrokerHealth {
      return {
        connected: !closed && cmd.status === 'ready',
        subscriptions: subscriptions.size,
        ...(lastError === undefined ? {} : { lastError }),
      }
    },

    async close(): Promise<void> {
      if (closed) return
      await Promise.all([...subscriptions].map((s) => s.close()))
      closed = true
      await cmd.quit().catch(() => cmd.disconnect())
    },
  }
}
