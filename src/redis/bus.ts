import { Cluster } from 'ioredis'
import { z } from 'zod'
import type { BusConnectOptions, BusMember, BusMessage, EarlyDelivery, InvalidationBus } from '../bus/kit.js'
import { Batcher, BusMonitor, BusPublishError, type WireMessage } from '../bus/kit.js'
import { ClosedError, TimeoutError } from '../errors.js'
import { type Duration, duration, parseOptions } from '../options.js'
import { within } from '../within.js'
import {
  closeRedis,
  duplicateRedis,
  openRedis,
  type RedisClient,
  type RedisEndpoint,
  type RedisTarget,
  redisTargetSchema,
} from './connection.js'

export const schema = z.intersection(
  redisTargetSchema,
  z.object({
    /** Channel name prefix. @default 'concord:bus:' */
    prefix: z.string().default('concord:bus:'),
    /** How often each member publishes a heartbeat (and checks its own echo). @default '1s' */
    heartbeatInterval: duration.default(1000),
    /** Silence after which the bus counts as down (L1 bypassed). @default 3 x heartbeatInterval */
    heartbeatTimeout: duration.optional(),
    /** Bound on a publish. @default '1s' */
    publishTimeout: duration.default(1000),
  }),
)

/** Where to connect (`{ url }`, `{ nodes }` or `{ client }`), and this adapter's own options. */
export type RedisBusOptions = RedisTarget & {
  /** Channel name prefix. @default 'concord:bus:' */
  prefix?: string
  /** How often each member publishes a heartbeat (and checks its own echo). @default '1s' */
  heartbeatInterval?: Duration
  /** Silence after which the bus counts as down (L1 bypassed). @default 3 x heartbeatInterval */
  heartbeatTimeout?: Duration
  /** Bound on a publish. @default '1s' */
  publishTimeout?: Duration
}

/**
 * On Cluster, a keyless PUBLISH goes to a random node and messages relayed through different nodes can overtake
 * each other, which would look like sequence gaps. Publishing from a script keyed by the channel sends every
 * message of a channel through the node owning that slot, so each sender's messages stay in order.
 */
function publishOrdered(client: RedisClient, channel: string, text: string): Promise<unknown> {
  if (!(client instanceof Cluster)) return client.publish(channel, text)
  const scripted = client as Cluster & { concordPublish?: (key: string, text: string) => Promise<number> }
  if (scripted.concordPublish === undefined) {
    client.defineCommand('concordPublish', {
      numberOfKeys: 1,
      lua: "return redis.call('PUBLISH', KEYS[1], ARGV[1])",
    })
  }
  return scripted.concordPublish!(channel, text)
}

/**
 * Redis pub/sub bus (standalone or Cluster). Each member has a dedicated subscriber connection; publishes go
 * through the shared command connection. A member is healthy only while it hears its own heartbeats back, so a
 * subscriber that is connected but deaf (killed, paused, a broken proxy) is detected within `heartbeatTimeout`.
 * Members offer `early` (see `EarlyDelivery`): a `createRedisTier` on the same server (the same client, a URL with the
 * same host and port, or cluster seeds sharing a node) publishes early copies from its invalidation script.
 */
export function createRedisBus(input: RedisBusOptions): InvalidationBus {
  const options = parseOptions('createRedisBus', schema, input)
  const heartbeatTimeout = options.heartbeatTimeout ?? 3 * options.heartbeatInterval
  let publisher: { client: RedisClient; owned: boolean } | undefined
  let users = 0

  return {
    kind: 'redis',
    connect(connect: BusConnectOptions): BusMember {
      if (publisher === undefined) {
        // No auto-pipelining: it defers each write to a later tick (~0.3 ms at low load); the Batcher already
        // merges messages under load.
        publisher = openRedis(options, 'concord-bus-pub')
        if (publisher.owned) publisher.client.on('error', () => {}) // surfaces as failed publishes
      }
      users++
      const pub = publisher.client
      const channel = options.prefix + connect.channel
      const subscriber = duplicateRedis(pub, `concord-bus-sub:${connect.instanceId}`)
      const from = `${connect.instanceId}/${crypto.randomUUID().slice(0, 8)}`
      let seq = 0
      let closed = false

      const send = (wire: WireMessage): Promise<unknown> =>
        within(
          publishOrdered(pub, channel, JSON.stringify(wire)),
          options.publishTimeout,
          () => new TimeoutError('bus publish', options.publishTimeout),
        )
      const monitor = new BusMonitor({
        from,
        heartbeatTimeout,
        onMessage: connect.onMessage,
        onHealth: connect.onHealth,
        heartbeat: () => send({ i: from, s: seq, t: Date.now(), h: 1 }),
      })
      const payload = (wire: WireMessage, message: BusMessage): WireMessage => {
        if (message.all) wire.a = 1
        if (message.keys?.length) wire.k = message.keys
        if (message.tags?.length) wire.g = message.tags
        return wire
      }
      const batcher = new Batcher(async (message: BusMessage) => {
        const wire = payload({ i: from, s: ++seq, t: Date.now() }, message)
        monitor.counts.batchesOut++
        try {
          await send(wire)
        } catch (error) {
          // The sequence number is spent: receivers see the gap in our next message or heartbeat.
          monitor.counts.publishErrors++
          throw new BusPublishError('redis', channel, error)
        }
      })

      subscriber.on('message', (ch: string, text: string) => {
        if (ch === channel) monitor.receive(text)
      })
      subscriber.on('error', () => {
        // Connection errors surface as 'close' + reconnects; counted there.
      })
      subscriber.on('close', () => monitor.disconnected('subscriber connection closed'))
      // Subscribe on every (re)connection: ioredis resubscribes only channels whose SUBSCRIBE once succeeded,
      // so a member started while Redis was down would otherwise stay deaf.
      const subscribe = () =>
        subscriber.subscribe(channel).then(
          () => monitor.connected(),
          () => monitor.disconnected('subscribe failed'),
        )
      subscriber.on('ready', subscribe)
      subscribe()
      const timer = setInterval(() => monitor.tick(), options.heartbeatInterval)
      timer.unref()
      // A tier on the same server publishes these from its invalidation script (one round trip instead of two).
      const early: EarlyDelivery = {
        endpoint: { kind: 'redis', target: options } as RedisEndpoint,
        channel,
        get idle() {
          return batcher.idle
        },
        encode: (message) => JSON.stringify(payload({ i: from, s: 0, t: Date.now(), u: 1 }, message)),
      }

      return {
        get healthy() {
          return !closed && monitor.healthy
        },
        publish(message) {
          if (closed) return Promise.reject(new ClosedError('redis bus member'))
          monitor.counts.messagesOut++
          return batcher.publish(message)
        },
        early,
        stats: () => monitor.stats(),
        async close() {
          if (closed) return
          closed = true
          clearInterval(timer)
          await send({ i: from, s: seq, t: Date.now(), x: 1 }).catch(() => {})
          monitor.close()
          subscriber.removeAllListeners('close')
          await closeRedis(subscriber)
          if (--users === 0 && publisher?.owned) {
            const owned = publisher.client
            publisher = undefined
            await closeRedis(owned)
          }
        },
      }
    },
  }
}
