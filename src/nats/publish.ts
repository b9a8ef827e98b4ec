import { JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream'
import { InvalidArgumentError } from '@nats-io/transport-node'
import {
  BrokerUnavailableError,
  type EventEnvelope,
  MessageRejectedError,
  orderingKey,
  sendInKeyOrder,
} from '../broker/kit.js'
import type { ResolvedNatsOptions } from './options.js'
import { eventSubject } from './topology.js'

/**
 * JetStream API errors about the message itself, not the server or the stream: the stream's maximum message
 * size (10054) and the publish expectations (expected stream 10060, last msg id 10070, last sequence
 * 10071/10164). Anything else (no stream, no resources, no leader, not enabled) is an outage for the caller.
 */
const MESSAGE_ERRORS = new Set([10054, 10060, 10070, 10071, 10164])

/**
 * Publishes encoded events to the topic's stream with `Nats-Msg-Id` = event id, pipelined: every aggregate's
 * next event is sent as soon as its previous one's PubAck arrived, all aggregates at once (up to
 * `maxPublishInFlight` messages awaiting their PubAck). An aggregate's event is never sent before the previous
 * one is stored, so a failure cannot leave a later event of an aggregate stored before an earlier one.
 *
 * @throws BrokerUnavailableError on a timeout, a lost connection, or a stream-wide refusal; nothing more is sent.
 * @throws MessageRejectedError when the server (or the client, for `max_payload`) refused an event as such;
 *   the other aggregates' events are all sent, none after the refused one in its aggregate.
 */
export async function publishPipelined(
  js: JetStreamClient,
  options: ResolvedNatsOptions,
  topic: string,
  encoded: { event: EventEnvelope; data: Uint8Array }[],
): Promise<void> {
  const failures = await sendInKeyOrder(
    encoded,
    (x) => orderingKey(x.event),
    ({ event, data }) =>
      js.publish(eventSubject(options.prefix, topic, event), data, {
        msgID: event.id,
        timeout: options.publishTimeout,
      }),
    { maxInFlight: options.maxPublishInFlight, stopAll: (error) => rejectionReason(error) === undefined },
  )
  if (failures.length === 0) return
  const outage = failures.find((f) => rejectionReason(f.error) === undefined)
  if (outage) {
    throw new BrokerUnavailableError('nats', 'publish', outage.error, {
      server: serverNames(options.servers),
    })
  }
  // The earliest refused event of the batch: the caller finds any other on its retry.
  const position = new Map(encoded.map((x, i) => [x, i]))
  const first = failures.reduce((a, b) => (position.get(b.item)! < position.get(a.item)! ? b : a))
  throw new MessageRejectedError('nats', first.item.event.id, rejectionReason(first.error)!, first.error)
}

/** Why the message itself was refused, or undefined when the failure is the broker's (retry it as it is). */
export function rejectionReason(error: unknown): string | undefined {
  if (error instanceof InvalidArgumentError || (error as Error)?.name === 'InvalidArgumentError') {
    return (error as Error).message // e.g. "'payload' max_payload size exceeded", checked by the client
  }
  if (error instanceof JetStreamApiError && MESSAGE_ERRORS.has(error.code)) return error.message
  return undefined
}

/** The servers a NATS broker connects to, for errors: credentials in a URL are left out. */
export function serverNames(servers: string | readonly string[]): string {
  return (typeof servers === 'string' ? [servers] : servers)
    .map((s) => s.replace(/\/\/[^@/]*@/, '//'))
    .join(', ')
}
