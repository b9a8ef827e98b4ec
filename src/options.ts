import { z } from 'zod'
import { InvalidOptionsError } from './errors.js'

/**
 * Parses a factory's options once, against a zod schema that holds the defaults, and freezes the result.
 * A bad option becomes an `InvalidOptionsError` naming the option and the value given.
 */
export function parseOptions<S extends z.ZodType>(
  where: string,
  schema: S,
  input: unknown,
): Readonly<z.output<S>> {
  const result = schema.safeParse(input ?? {})
  if (!result.success) {
    throw new InvalidOptionsError(
      where,
      result.error.issues.map((issue) => ({
        option: issue.path.join('.') || '(root)',
        message: issue.message,
        value: valueAt(input, issue.path),
      })),
    )
  }
  return Object.freeze(result.data)
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** What every duration option accepts, as its error message says. */
export const DURATION_FORMATS =
  "a duration: milliseconds as a number (250), or a string of a number and a unit ms, s, m, h or d ('250ms', '30s', '5m', '1h', '1d')"

/** A duration in milliseconds: a number, or a string people read (`'250ms'`, `'30s'`, `'5m'`, `'1h'`). */
export const duration = z
  .union([z.number(), z.string()], { error: DURATION_FORMATS })
  .transform((value, ctx) => {
    const match = typeof value === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value) : null
    const ms = typeof value === 'number' ? value : match ? Number(match[1]) * UNITS[match[2]!]! : Number.NaN
    if (!Number.isFinite(ms) || ms < 0) {
      ctx.addIssue({ code: 'custom', message: DURATION_FORMATS })
      return z.NEVER
    }
    return ms
  })

/** A duration in an option: milliseconds, or a string such as `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'7d'`. */
export type Duration = z.input<typeof duration>

/** A duration given to a method (not a factory): milliseconds, or a string such as `'30s'`. */
export function durationMs(where: string, value: Duration): number {
  return parseOptions(where, duration, value)
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let value: unknown = input
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<PropertyKey, unknown>)[key]
  }
  return value
}
