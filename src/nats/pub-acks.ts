import { JetStreamApiError } from '@nats-io/jetstream'
import { createInbox, headers, type Msg, type NatsConnection } from '@nats-io/transport-node'
import { BrokerUnavailableError } from '../broker/kit.js'
import { ClosedError, TimeoutError } from '../errors.js'

interface Waiting {
  resolve(): void
  reject(error: unknown): void
  deadline: number
}

/** JetStream publishes awaiting their PubAck, all answered through one reply subscription. */
export interface PubAcks {
  /**
   * Publishes `data` to `subject` with `Nats-Msg-Id` = `msgId`; resolves when the stream stored it (or dropped
   * it as a duplicate). Rejects with what `nc.publish` throws (`max_payload`, a closed connection), the server's `JetStreamApiError`, a `TimeoutError` after the timeout, a
   * `BrokerUnavailableError` when no stream takes the subject, a `ClosedError` when the connection closes.
   */
  publish(subject: string, data: Uint8Array, msgId: string): Promise<void>
}

const decoder = new TextDecoder()

/**
 * An asynchronous JetStream publisher in the manner of the Go client's PublishAsync: every message carries the
 * reply subject `<inbox>.<n>`, one wildcard subscription receives the PubAcks, and one timer (armed for the
 * oldest message) enforces `timeoutMs`. `js.publish` goes through `nc.request`, which builds a request object,
 * a timer and, on success (nats.js 3 cancels the settled request), an `Error` with its stack per message:
 * most of a publish's CPU in a profile of the relay.
 */
export function pubAcks(nc: NatsConnection, timeoutMs: number): PubAcks {
  const inbox = createInbox()
  const prefixLength = inbox.length + 1
  // Insertion order is deadline order (one timeout for all), so the oldest waiting message comes first.
  const waiting = new Map<string, Waiting>()
  let next = 0
  let timer: ReturnType<typeof setTimeout> | undefined

  const sweep = () => {
    timer = undefined
    const now = Date.now()
    for (const [token, w] of waiting) {
      if (w.deadline > now) break
      waiting.delete(token)
      w.reject(new TimeoutError('nats PubAck', timeoutMs))
    }
    arm()
  }
  const arm = () => {
    if (timer !== undefined) return
    const first = waiting.values().next()
    if (first.done) return
    timer = setTimeout(sweep, Math.max(0, first.value.deadline - Date.now()))
    // The messages are awaited by their publishers; the timer alone must not keep the process alive.
    timer.unref?.()
  }

  nc.subscribe(`${inbox}.*`, {
    callback: (error, msg) => {
      if (error) return // the subscription ends only with the connection, handled below
      const token = msg.subject.slice(prefixLength)
      const w = waiting.get(token)
      if (!w) return // answered after its timeout
      waiting.delete(token)
      const failure = ackFailure(msg)
      if (failure) w.reject(failure)
      else w.resolve()
    },
  })
  void nc.closed().then(() => {
    if (timer !== undefined) clearTimeout(timer)
    for (const w of waiting.values()) w.reject(new ClosedError('nats connection'))
    waiting.clear()
  })

  // Messages are handed to the client together, once the acknowledgements read in this turn of the event loop
  // have each released their aggregate's next event: one socket write for all of them instead of one per PubAck
  // (the client flushes what it holds at the end of every microtask run).
  let outgoing: { subject: string; data: Uint8Array; token: string; msgId: string }[] = []
  const send = () => {
    const batch = outgoing
    outgoing = []
    for (const m of batch) {
      const h = headers()
      h.set('Nats-Msg-Id', m.msgId)
      try {
        nc.publish(m.subject, m.data, { reply: `${inbox}.${m.token}`, headers: h })
      } catch (error) {
        // max_payload (checked by the client), or a closed connection
        const w = waiting.get(m.token)
        waiting.delete(m.token)
        w?.reject(error)
      }
    }
  }

  return {
    publish(subject, data, msgId) {
      const token = (next++).toString(36)
      if (outgoing.length === 0) setImmediate(send)
      outgoing.push({ subject, data, token, msgId })
      return new Promise<void>((resolve, reject) => {
        waiting.set(token, { resolve, reject, deadline: Date.now() + timeoutMs })
        arm()
      })
    },
  }
}

/** Undefined for a PubAck; otherwise why the message was not stored. */
function ackFailure(msg: Msg): unknown {
  // A status message with no body: no stream listens on the subject (or JetStream is off).
  if (msg.data.length === 0) {
    return new BrokerUnavailableError(
      'nats',
      'publish',
      new Error(`no stream answered (status ${msg.headers?.code})`),
    )
  }
  let ack: { stream?: string; error?: { code: number; err_code: number; description: string } }
  try {
    ack = JSON.parse(decoder.decode(msg.data))
  } catch (cause) {
    return new BrokerUnavailableError('nats', 'publish', cause)
  }
  if (ack.error) return new JetStreamApiError(ack.error)
  if (!ack.stream) return new BrokerUnavailableError('nats', 'publish', new Error('invalid PubAck'))
  return undefined
}
