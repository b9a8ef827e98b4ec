import { z } from 'zod'
import { duration } from './options.js'

/**
 * How long a subscriber waits before handing a failed message to its handler again: either a list of delays
 * (attempt n waits the n-th, the last repeats) or an exponential policy.
 */
export const backoffSchema = z.union([
  z.array(duration).min(1),
  z.object({
    /** Delay after the first failure. @default 200ms */
    initial: duration.default(200),
    /** Upper bound of any delay. @default 30s */
    max: duration.default(30_000),
    /** Growth per failure. @default 2 */
    factor: z.number().min(1).default(2),
    /** Fraction of the delay randomised away, so retries of many messages spread out. @default 0.2 */
    jitter: z.number().min(0).max(1).default(0.2),
  }),
])

export type BackoffPolicy = z.output<typeof backoffSchema>

/** The delay in ms after failed attempt `attempt` (1-based). */
export function backoffDelay(
  policy: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  if (Array.isArray(policy)) return policy[Math.min(attempt, policy.length) - 1]!
  const raw = Math.min(policy.max, policy.initial * policy.factor ** Math.max(0, attempt - 1))
  return Math.round(raw * (1 - policy.jitter * random()))
}
