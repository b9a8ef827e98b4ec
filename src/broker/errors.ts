import { ConcordError } from '../errors.js'

/**
 * Bytes that are not a valid event envelope (not UTF-8 JSON, or a field missing or of the wrong type), or an
 * event given to `publish` that cannot be encoded. `context.issues` lists what is wrong; the raw bytes are not
 * copied into the error (they may hold personal data), only their length.
 */
export class MalformedEventError extends ConcordError {
  constructor(message: string, options: { context?: Record<string, unknown>; cause?: unknown } = {}) {
    super('E_MALFORMED_EVENT', message, options)
  }
}

/**
 * The broker did not accept an operation within its bound: it is unreachable, reconnecting, or did not
 * acknowledge in time. Nothing is known to be lost; the caller (the outbox relay) backs off and retries, and
 * publish deduplication by event id makes the retry safe.
 */
export class BrokerUnavailableError extends ConcordError {
  /**
   * `server`: where the adapter connects (`nats://host:4222`, never a password), in the message and
   * `context.server`; the message also ends with the cause's (or, without one, `lastError`: what the
   * connection last reported).
   */
  constructor(
    broker: string,
    operation: string,
    cause?: unknown,
    where: { server?: string; lastError?: string } = {},
  ) {
    const at = where.server ? ` at ${where.server}` : ''
    const why = cause instanceof Error ? cause.message : cause !== undefined ? String(cause) : where.lastError
    super(
      'E_BROKER_UNAVAILABLE',
      `${broker} broker${at} unavailable during ${operation}${why ? `: ${why}` : ''}`,
      {
        context: { broker, operation, ...(where.server ? { server: where.server } : {}) },
        cause,
      },
    )
  }
}

/**
 * The broker refused one message for what it is, not because it is unreachable: over the server's maximum
 * payload, over the stream's maximum message size, or refused by a publish precondition. Retrying the same bytes
 * is unlikely to help, but the broker is up: the outbox relay counts a failed attempt for this event (its
 * backoff, then its dead letter) while the other aggregates flow. `context.eventId` names the event;
 * `publish` sends no later event of that aggregate.
 */
export class MessageRejectedError extends ConcordError {
  readonly eventId: string
  constructor(broker: string, eventId: string, reason: string, cause?: unknown) {
    super('E_MESSAGE_REJECTED', `${broker} broker rejected event ${eventId}: ${reason}`, {
      context: { broker, eventId, reason },
      cause,
    })
    this.eventId = eventId
  }
}

/**
 * The error a dead letter carries when a message arrived already past `maxDeliveries`: the subscribers that
 * received it before stopped (crashed, or closed) without settling it, so there is no handler error to report.
 */
export class DeliveryLimitError extends ConcordError {
  constructor(deliveryCount: number, maxDeliveries: number) {
    super(
      'E_DELIVERY_LIMIT',
      `delivered ${deliveryCount} times, more than maxDeliveries (${maxDeliveries}), without being settled`,
      { context: { deliveryCount, maxDeliveries } },
    )
  }
}
