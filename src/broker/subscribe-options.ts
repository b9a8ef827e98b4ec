import { z } from 'zod'
import { backoffSchema } from '../backoff.js'
import { type Duration, duration, parseOptions } from '../options.js'
import type { DeadLetter } from './types.js'

export const subscribeSchema = z.object({
  /** Handler calls before a message is dead-lettered. @default 5 */
  maxDeliveries: z.number().int().min(1).default(5),
  /** Delay before each retry of a failed message. @default exponential from 200ms to 30s, factor 2 */
  backoff: backoffSchema.default({ initial: 200, max: 30_000, factor: 2, jitter: 0.2 }),
  /** Aggregates handled at the same time by this subscriber (one message per aggregate at a time). @default 8 */
  concurrency: z.number().int().min(1).default(8),
  /** Messages this subscriber holds at most (queued behind their aggregate, in backoff or running). @default 128 */
  maxInFlight: z.number().int().min(1).default(128),
  /**
   * How long the broker waits for a subscriber that stopped (crashed, lost its connection) before giving its
   * unsettled messages to another subscriber of the group. A live subscriber renews its hold on every message
   * it keeps, so a slow handler or a long backoff never causes a redelivery. It bounds how late the events a
   * crashed instance held reach another one: keep it well under the staleness you promise. @default 5s
   */
  ackWait: duration.default(5_000),
  /**
   * Takes a message given up on (a poison event, a malformed body) before it is acknowledged; the outbox parks it
   * in its dead-letter table. Retried with the backoff while it throws. Without it, dead letters are only counted.
   */
  onDeadLetter: z.custom<(d: DeadLetter) => void | Promise<void>>((v) => typeof v === 'function').optional(),
  /** Hears the errors the loop survives (lost connection, a failing onDeadLetter); for logs and metrics. */
  onError: z.custom<(error: unknown) => void>((v) => typeof v === 'function').optional(),
})

/** Options of {@link Broker.subscribe}; every field has a default. */
/** Options of {@link Broker.subscribe }; every field has a default. */
export interface SubscribeOptions {
  /** Handler calls before a message is dead-lettered. @default 5 */
  maxDeliveries?: number
  /** Delay before each retry of a failed message. @default exponential from 200ms to 30s, factor 2 */
  backoff?: Duration[] | { initial?: Duration; max?: Duration; factor?: number; jitter?: number }
  /** Aggregates handled at the same time by this subscriber (one message per aggregate at a time). @default 8 */
  concurrency?: number
  /** Messages this subscriber holds at most (queued behind their aggregate, in backoff or running). @default 128 */
  maxInFlight?: number
  /**
   * How long the broker waits for a subscriber that stopped (crashed, lost its connection) before giving its
   * unsettled messages to another subscriber of the group. A live subscriber renews its hold on every message
   * it keeps, so a slow handler or a long backoff never causes a redelivery. It bounds how late the events a
   * crashed instance held reach another one: keep it well under the staleness you promise. @default 5s
   */
  ackWait?: Duration
  /**
   * Takes a message given up on (a poison event, a malformed body) before it is acknowledged; the outbox parks it
   * in its dead-letter table. Retried with the backoff while it throws. Without it, dead letters are only counted.
   */
  onDeadLetter?: (d: DeadLetter) => void | Promise<void>
  /** Hears the errors the loop survives (lost connection, a failing onDeadLetter); for logs and metrics. */
  onError?: (error: unknown) => void
}
export type ResolvedSubscribeOptions = Readonly<z.output<typeof subscribeSchema>>

/** Parses subscribe options once per subscription. */
export function parseSubscribeOptions(
  where: string,
  input: SubscribeOptions | undefined,
): ResolvedSubscribeOptions {
  return parseOptions(where, subscribeSchema, input ?? {})
}
