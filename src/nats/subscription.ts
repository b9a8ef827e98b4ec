import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { EventHandler, ResolvedSubscribeOptions, Subscription } from '../broker/kit.js'
import { type InboundMessage, KeyedDispatcher, StopSignal } from '../broker/kit.js'

/** Lifetime of each pull request; bounds how long a closed subscriber's last request lingers on the server. */
const PULL_EXPIRES = 2_000

interface NatsMessage extends InboundMessage {
  msg: JsMsg
}

export interface NatsSubscriptionParams {
  nc: NatsConnection
  js: JetStreamClient
  stream: string
  topic: string
  group: string
  handler: EventHandler
  options: ResolvedSubscribeOptions
  /** Creates the stream and the durable consumer if they are missing (idempotent). */
  ensure: () => Promise<void>
}

/**
 * One subscriber on a group's durable pull consumer. The client pulls a new batch only as the loop takes
 * messages, and the loop takes them only while the dispatcher has room, so at most about `2 * maxInFlight`
 * messages sit in this process. Holding is signalled with `+WPI` (working), give-back with a delayed `-NAK`.
 */
export function natsSubscription(params: NatsSubscriptionParams): Subscription {
  const { nc, js, stream, topic, group, handler, options, ensure } = params
  const dispatcher = new KeyedDispatcher<NatsMessage>(topic, group, handler, options, {
    system: 'nats',
    ack: async (m) => m.msg.ack(),
    keepAlive: async (ms) => {
      for (const m of ms) m.msg.working()
    },
    release: async (ms) => {
      // Delayed past our pull request's expiry: nats-server 2.9 may hand a message nak'd at once to that
      // abandoned request (its inbox already unsubscribed), where it would sit until ackWait. Same delay for
      // all, so they come back in stream order.
      for (const m of ms) m.msg.nak(PULL_EXPIRES + 500)
    },
  })
  const stop = new StopSignal()
  let messages: ConsumerMessages | undefined

  const loop = (async () => {
    let missing = false
    while (!stop.stopped) {
      try {
        if (missing) await ensure()
        missing = false
        const consumer = await js.consumers.get(stream, group)
        if (stop.stopped) break
        // abort_on_missing_resource: a deleted consumer or stream ends the iteration, and is created again here.
        messages = await consumer.consume({
          max_messages: options.maxInFlight,
          expires: PULL_EXPIRES,
          abort_on_missing_resource: true,
        })
        if (stop.stopped) messages.stop()
        for await (const msg of messages) {
          const message = { id: String(msg.seq), data: msg.data, deliveryCount: msg.info.deliveryCount, msg }
          // A copy of a message still held (its hold lapsed while disconnected) is dropped; the held one is
          // acked by stream sequence, which settles both. While closing, anything taken goes straight back.
          if (!dispatcher.push(message)) {
            if (stop.stopped) msg.nak(PULL_EXPIRES + 500)
            continue
          }
          await dispatcher.capacity()
        }
      } catch (error) {
        if (stop.stopped) break
        // Server down, consumer or stream deleted: report, wait, set up again.
        dispatcher.reportError(error)
        missing = /not found|deleted/i.test(String(error))
        await stop.wait(1_000)
      }
    }
  })()

  return {
    async close() {
      if (stop.stopped) return
      stop.stop()
      messages?.stop()
      await nc.flush().catch(() => {})
      await dispatcher.close()
      await loop
      // Acks and naks are plain publishes: flush so they reach the server before anyone else asks for messages.
      if (!nc.isClosed()) await nc.flush().catch(() => {})
    },
    stats: () => dispatcher.stats(),
  }
}
