import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import type { Broker, BrokerHealth, Subscription } from '../broker/kit.js'
import {
  BrokerUnavailableError,
  checkName,
  type EventEnvelope,
  encodeEnvelope,
  MessageRejectedError,
  parseSubscribeOptions,
  StopSignal,
  track,
  within,
} from '../broker/kit.js'
import { ClosedError } from '../errors.js'
import { parseOptions } from '../options.js'
import { type NatsBrokerOptions, natsSchema, type ResolvedNatsOptions } from './options.js'
import { type PubAcks, pubAcks } from './pub-acks.js'
import { publishPipelined, serverNames } from './publish.js'
import { natsSubscription } from './subscription.js'
import { ensureConsumer, ensureStream, streamName } from './topology.js'

export type { NatsBrokerOptions } from './options.js'

interface Clients {
  nc: NatsConnection
  js: JetStreamClient
  jsm: JetStreamManager
  acks: PubAcks
}

/**
 * The NATS JetStream adapter: a file-backed stream per topic (`${prefix}_${topic}`, subjects
 * `${prefix}.${topic}.<aggregateType>.<aggregateId>`), deduplicated by `Nats-Msg-Id` = event id within
 * `dedupWindow`, and a durable pull consumer per group. Connects in the background and reconnects forever;
 * while disconnected, `publish` rejects at once with `BrokerUnavailableError`; an event the server refuses as
 * such (over `max_payload`) rejects with `MessageRejectedError`.
 */
export function createNatsBroker(opts: NatsBrokerOptions): Broker {
  const options = parseOptions('createNatsBroker', natsSchema, opts)
  const stop = new StopSignal()
  const subscriptions = new Set<Subscription>()
  const streams = new Map<string, Promise<void>>()
  let connected = false
  let lastError: string | undefined
  const server = serverNames(options.servers)
  const unavailable = (operation: string, cause?: unknown) =>
    new BrokerUnavailableError('nats', operation, cause, {
      server,
      lastError: lastError ?? 'not connected yet',
    })

  const managed: Promise<Clients | undefined> = connectUntilStopped(options, stop, {
    onError: (error) => {
      lastError = describe(error)
    },
    onStatus: (up) => {
      // A lost connection is the reason publishes fail from now on, not "not connected yet" (the first connect).
      if (connected && !up) lastError = 'connection lost, reconnecting'
      connected = up
    },
  }).then(async (nc) => {
    if (!nc) return undefined
    connected = true
    const timeout = options.publishTimeout
    // checkAPI off: no request here, so a server that drops right after connecting cannot break the broker.
    return {
      nc,
      js: jetstream(nc, { timeout }),
      acks: pubAcks(nc, timeout),
      jsm: await jetstreamManager(nc, { timeout, checkAPI: false }),
    }
  })
  managed.catch((error) => {
    lastError = describe(error)
  })

  /** The clients, once connected and not closed; rejects with a typed error within the publish timeout. */
  const clients = async (operation: string): Promise<Clients> => {
    if (stop.stopped) throw new ClosedError('nats broker')
    const c = await within(managed, options.publishTimeout, () => unavailable(operation)).catch((error) => {
      throw error instanceof BrokerUnavailableError ? error : unavailable(operation, error)
    })
    if (!c || stop.stopped) throw new ClosedError('nats broker')
    if (!connected) throw unavailable(operation)
    return c
  }

  const streamFor = (jsm: JetStreamManager, topic: string) => {
    let made = streams.get(topic)
    if (!made) {
      made = ensureStream(jsm, options, topic)
      made.catch(() => streams.delete(topic))
      streams.set(topic, made)
    }
    return made
  }

  return {
    system: 'nats',
    async publish(topic: string, events: EventEnvelope[]): Promise<void> {
      checkName('topic', topic)
      const encoded = events.map((event) => ({ event, data: encodeEnvelope(event) }))
      if (encoded.length === 0) {
        if (stop.stopped) throw new ClosedError('nats broker')
        return
      }
      const { acks, jsm } = await clients('publish')
      try {
        await within(streamFor(jsm, topic), options.publishTimeout, () => unavailable('publish'))
        await publishPipelined(acks, options, topic, encoded)
      } catch (error) {
        if (error instanceof MessageRejectedError) throw error
        // The stream may have been deleted behind our back; look again next time.
        streams.delete(topic)
        if (error instanceof BrokerUnavailableError) throw error
        throw unavailable('publish', error)
      }
    },

    async subscribe(topic, group, handler, subscribeOpts) {
      checkName('topic', topic)
      checkName('group', group)
      const subOptions = parseSubscribeOptions('createNatsBroker.subscribe', subscribeOpts)
      const { nc, js, jsm } = await clients('subscribe')
      const setup = async () => {
        await streamFor(jsm, topic)
        await ensureConsumer(jsm, options, topic, group, subOptions.ackWait)
      }
      await within(setup(), options.publishTimeout * 2, () => unavailable('subscribe')).catch((error) => {
        throw error instanceof BrokerUnavailableError ? error : unavailable('subscribe', error)
      })
      const stream = streamName(options.prefix, topic)
      const ensure = () => {
        streams.delete(topic)
        return setup()
      }
      const sub = natsSubscription({ nc, js, stream, topic, group, handler, options: subOptions, ensure })
      return track(subscriptions, sub)
    },

    health(): BrokerHealth {
      return {
        connected: connected && !stop.stopped,
        subscriptions: subscriptions.size,
        ...(lastError === undefined ? {} : { lastError }),
      }
    },

    async close(): Promise<void> {
      if (stop.stopped) return
      await Promise.all([...subscriptions].map((s) => s.close()))
      stop.stop()
      connected = false
      const c = await managed.catch(() => undefined)
      if (c && !c.nc.isClosed()) await c.nc.close()
    },
  }
}

/** Connects, retrying every `reconnectWait` until it succeeds or the broker closes (then resolves undefined). */
async function connectUntilStopped(
  options: ResolvedNatsOptions,
  stop: StopSignal,
  hooks: { onError(error: unknown): void; onStatus(connected: boolean): void },
): Promise<NatsConnection | undefined> {
  while (!stop.stopped) {
    try {
      const nc = await connect({
        servers: options.servers,
        name: options.name,
        ...(options.user === undefined ? {} : { user: options.user }),
        ...(options.pass === undefined ? {} : { pass: options.pass }),
        ...(options.token === undefined ? {} : { token: options.token }),
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        timeout: options.publishTimeout,
        maxReconnectAttempts: -1,
        reconnectTimeWait: options.reconnectWait,
        pingInterval: 10_000,
        // The client otherwise builds two Error objects (stack traces) per request, eagerly, in case it fails:
        // about half the CPU of a publish. Our errors carry the operation and the cause instead.
        noAsyncTraces: true,
      })
      if (stop.stopped) {
        await nc.close()
        return undefined
      }
      watchStatus(nc, hooks)
      return nc
    } catch (error) {
      hooks.onError(error)
      await stop.wait(options.reconnectWait)
    }
  }
  return undefined
}

function watchStatus(
  nc: NatsConnection,
  hooks: { onError(error: unknown): void; onStatus(up: boolean): void },
) {
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') hooks.onStatus(false)
      else if (status.type === 'reconnect') hooks.onStatus(true)
      else if (status.type === 'error') hooks.onError(status.error)
    }
  })().catch(hooks.onError)
  void nc.closed().then(() => hooks.onStatus(false))
}

// Server URLs may carry credentials (nats://user:pass@host); error messages from the client do not, and only
// the message is kept.
function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
