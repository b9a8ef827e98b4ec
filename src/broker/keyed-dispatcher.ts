import { backoffDelay } from '../backoff.js'
import { traced } from '../tracing.js'
import { decodeEnvelope, type EventEnvelope, orderingKey } from './envelope.js'
import { DeliveryLimitError, type MalformedEventError } from './errors.js'
import type { ResolvedSubscribeOptions } from './subscribe-options.js'
import type { DeadLetter, EventHandler, SubscriptionStats } from './types.js'

/** A message as an adapter received it. */
export interface InboundMessage {
  /** The broker's id of the stored message; a second copy with the same id is dropped while the first is held. */
  readonly id: string
  readonly data: Uint8Array
  /** Deliveries so far as the broker counts them, this one included (1 on the first). */
  readonly deliveryCount: number
}

/** What the dispatcher asks of the adapter it runs in. */
export interface MessageSettler<M extends InboundMessage> {
  ack(message: M): Promise<void>
  /** Renews the broker's hold on messages still held, so they are not redelivered to another subscriber. */
  keepAlive(messages: M[]): Promise<void>
  /** Gives unsettled messages back (on close) so the group receives them again soon. */
  release(messages: M[]): Promise<void>
  /** The broker's `messaging.system` for consumer spans (`nats`, `redis`, `memory`). */
  readonly system?: string
}

interface Held<M> {
  message: M
  event?: EventEnvelope
  malformed?: MalformedEventError
}

/**
 * The consumer side every adapter shares: per-aggregate lanes that hand one event at a time to the handler, in
 * arrival order, retrying a failed event in place (after its backoff) so no later event of its aggregate
 * overtakes it; dead-lettering after `maxDeliveries`; at most `concurrency` handler calls at once.
 *
 * Retries happen here rather than through a broker-side nak: a nak would let the broker deliver the next event
 * of the same aggregate (possibly to another subscriber) before the failed one comes back. While a message waits,
 * the adapter's `keepAlive` stops the broker from redelivering it.
 */
export class KeyedDispatcher<M extends InboundMessage> {
  private readonly lanes = new Map<string, Held<M>[]>()
  private readonly held = new Map<string, Held<M>>()
  private readonly counts = { delivered: 0, acked: 0, nakked: 0, deadLettered: 0, errors: 0 }
  private running = 0
  private readonly slotWaiters: (() => void)[] = []
  private readonly capacityWaiters: (() => void)[] = []
  private readonly lanesDone = new Set<Promise<void>>()
  private readonly sleepers = new Set<() => void>()
  private readonly keepAliveTimer: NodeJS.Timeout
  private closing = false

  constructor(
    private readonly topic: string,
    private readonly group: string,
    private readonly handler: EventHandler,
    private readonly options: ResolvedSubscribeOptions,
    private readonly settler: MessageSettler<M>,
  ) {
    // A third of ackWait leaves two renewals' slack before the broker would redeliver.
    this.keepAliveTimer = setInterval(() => this.renew(), Math.max(50, options.ackWait / 3))
    this.keepAliveTimer.unref()
  }

  /** Takes a received message; returns false (and does nothing) for a copy of a message already held. */
  push(message: M): boolean {
    if (this.closing || this.held.has(message.id)) return false
    const entry: Held<M> = { message }
    try {
      entry.event = decodeEnvelope(message.data)
    } catch (error) {
      entry.malformed = error as MalformedEventError
    }
    this.held.set(message.id, entry)
    // A malformed body has no aggregate; its own lane lets it go to the dead letter without blocking anything.
    const key = entry.event ? orderingKey(entry.event) : `\u0001malformed\u0001${message.id}`
    const lane = this.lanes.get(key)
    if (lane) {
      lane.push(entry)
    } else {
      this.lanes.set(key, [entry])
      const done = this.drain(key).finally(() => this.lanesDone.delete(done))
      this.lanesDone.add(done)
    }
    return true
  }

  /** Resolves when the subscriber may take another message (it holds fewer than `maxInFlight`). */
  async capacity(): Promise<void> {
    while (!this.closing && this.held.size >= this.options.maxInFlight) {
      await new Promise<void>((resolve) => this.capacityWaiters.push(resolve))
    }
  }

  stats(): SubscriptionStats {
    return { ...this.counts, pending: this.held.size }
  }

  /** Reports a loop error of the adapter (counted, passed to `onError`, never thrown). */
  reportError(error: unknown): void {
    this.counts.errors++
    try {
      this.options.onError?.(error)
    } catch {
      // onError is the last resort; a throwing one must not take the loop down.
    }
  }

  /** Stops handing out messages, waits for running handler calls, and releases what is still held. */
  async close(): Promise<void> {
    if (this.closing) return
    this.closing = true
    clearInterval(this.keepAliveTimer)
    for (const wake of this.sleepers) wake()
    for (const wake of this.capacityWaiters.splice(0)) wake()
    for (const wake of this.slotWaiters.splice(0)) wake()
    await Promise.all(this.lanesDone)
    const left = [...this.held.values()].map((h) => h.message)
    this.held.clear()
    this.lanes.clear()
    if (left.length > 0) await this.settler.release(left).catch((error) => this.reportError(error))
  }

  private async drain(key: string): Promise<void> {
    const lane = this.lanes.get(key)!
    while (lane.length > 0 && !this.closing) {
      const entry = lane[0]!
      const settled = await this.process(entry)
      if (!settled) return // closing: the rest of the lane is released by close()
      lane.shift()
      this.held.delete(entry.message.id)
      this.capacityWaiters.shift()?.()
    }
    if (!this.closing) this.lanes.delete(key)
  }

  /** Handles one message until it is acked or dead-lettered (true), or the subscriber closes (false). */
  private async process(entry: Held<M>): Promise<boolean> {
    const { message } = entry
    const max = this.options.maxDeliveries
    if (!entry.event) return this.deadLetter(entry, 'malformed', entry.malformed, message.deliveryCount)
    if (message.deliveryCount > max) {
      return this.deadLetter(
        entry,
        'max-deliveries',
        new DeliveryLimitError(message.deliveryCount, max),
        message.deliveryCount,
      )
    }
    for (let attempt = message.deliveryCount; ; attempt++) {
      if (!(await this.acquireSlot())) return false
      this.counts.delivered++
      let failure: { error: unknown } | undefined
      try {
        await this.handle(entry.event, message, attempt)
      } catch (error) {
        failure = { error }
      } finally {
        this.releaseSlot()
      }
      if (!failure) {
        await this.ack(message)
        this.counts.acked++
        return true
      }
      this.counts.nakked++
      if (attempt >= max) return this.deadLetter(entry, 'max-deliveries', failure.error, attempt)
      if (!(await this.sleep(backoffDelay(this.options.backoff, attempt)))) return false
    }
  }

  /** One handler call, as a consumer span (`process <topic>`) continuing the event's trace. */
  private handle(event: EventEnvelope, message: M, attempt: number): Promise<void> {
    const init = {
      name: `process ${this.topic}`,
      kind: 'consumer' as const,
      attributes: {
        'messaging.system': this.settler.system ?? 'concord',
        'messaging.operation.type': 'process',
        'messaging.operation.name': 'process',
        'messaging.destination.name': this.topic,
        'messaging.consumer.group.name': this.group,
        'messaging.message.id': event.id,
        'messaging.message.delivery_count': attempt,
        'concord.broker.message_id': message.id,
      },
      parent: event.headers.traceparent,
    }
    return traced('brokerProcess', init, () =>
      this.handler(event, { deliveryCount: attempt, redelivered: attempt > 1 }),
    )
  }

  private async deadLetter(
    entry: Held<M>,
    reason: DeadLetter['reason'],
    error: unknown,
    deliveryCount: number,
  ) {
    const letter: DeadLetter = {
      topic: this.topic,
      group: this.group,
      reason,
      data: entry.message.data,
      messageId: entry.message.id,
      deliveryCount,
      error,
      ...(entry.event ? { event: entry.event } : {}),
    }
    // The message is acked only once the dead letter has taken it: if onDeadLetter fails (its table is down),
    // the message waits here, and is redelivered after a crash, instead of being lost.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.options.onDeadLetter?.(letter)
        break
      } catch (failure) {
        this.reportError(failure)
        if (!(await this.sleep(backoffDelay(this.options.backoff, attempt)))) return false
      }
    }
    await this.ack(entry.message)
    this.counts.deadLettered++
    return true
  }

  private async ack(message: M): Promise<void> {
    // A lost ack only means a redelivery, which at-least-once delivery allows; the lane goes on.
    await this.settler.ack(message).catch((error) => this.reportError(error))
  }

  private async acquireSlot(): Promise<boolean> {
    while (!this.closing && this.running >= this.options.concurrency) {
      await new Promise<void>((resolve) => this.slotWaiters.push(resolve))
    }
    if (this.closing) return false
    this.running++
    return true
  }

  private releaseSlot(): void {
    this.running--
    this.slotWaiters.shift()?.()
  }

  /** Waits `ms`; false when the subscriber closed meanwhile. */
  private sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        this.sleepers.delete(wake)
        resolve(!this.closing)
      }
      const timer = setTimeout(wake, ms)
      this.sleepers.add(wake)
    })
  }

  private renew(): void {
    if (this.held.size === 0) return
    const messages = [...this.held.values()].map((h) => h.message)
    this.settler.keepAlive(messages).catch((error) => this.reportError(error))
  }
}
