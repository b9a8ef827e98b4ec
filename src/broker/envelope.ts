import { v7 as uuidv7 } from 'uuid'
import { z } from 'zod'
import { MalformedEventError } from './errors.js'

/**
 * One event as it travels through the broker: what happened (`type`, `payload`) to which aggregate, at which
 * version, with the trace context of the write that caused it.
 */
export interface EventEnvelope<P = unknown> {
  /** UUIDv7 ({@link newEventId}); publish deduplicates on it and consumers (the inbox) deduplicate on it. */
  id: string
  aggregateType: string
  aggregateId: string
  /** The aggregate's version after this event; projections ignore an event at or below what they hold. */
  aggregateVersion: number
  type: string
  payload: P
  /** Trace context (`traceparent`, `tracestate`, ...) and other string metadata. */
  headers: Record<string, string>
  /** ISO 8601 time the event was recorded. */
  createdAt: string
}

/** The envelope's schema; `validate` checks the same by hand first (exported for the test that they agree). */
export const envelopeSchema = z.object({
  id: z.uuid(),
  aggregateType: z.string().min(1),
  aggregateId: z.string().min(1),
  aggregateVersion: z.number().int().nonnegative(),
  type: z.string().min(1),
  payload: z.unknown(),
  // Not z.record: it rebuilds the object by assignment, which silently drops a `__proto__` header.
  headers: z.custom<Record<string, string>>(isStringRecord, {
    message: 'expected an object of string values',
  }),
  createdAt: z.iso.datetime({ offset: true }),
})

function isStringRecord(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  return Object.values(value).every((v) => typeof v === 'string')
}

/** A new event id: a UUIDv7, so ids sort by creation time. */
export function newEventId(): string {
  return uuidv7()
}

/** The key whose events a subscriber handles one at a time, in publish order. */
export function orderingKey(event: Pick<EventEnvelope, 'aggregateType' | 'aggregateId'>): string {
  return `${event.aggregateType}\u0000${event.aggregateId}`
}

/**
 * Validates an envelope and encodes it as UTF-8 JSON.
 * @throws MalformedEventError when a field is missing or wrong, or the payload cannot be serialised.
 */
export function encodeEnvelope(event: EventEnvelope): Uint8Array {
  const checked = validate(event, 'cannot publish an invalid event envelope')
  let text: string
  try {
    text = JSON.stringify(checked)
  } catch (cause) {
    throw new MalformedEventError('event payload cannot be serialised as JSON', {
      context: { id: checked.id, type: checked.type },
      cause,
    })
  }
  return new TextEncoder().encode(text)
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Decodes and validates bytes read from a broker.
 * @throws MalformedEventError when the bytes are not UTF-8 JSON or not a valid envelope.
 */
export function decodeEnvelope(bytes: Uint8Array): EventEnvelope {
  let value: unknown
  try {
    value = JSON.parse(strictUtf8.decode(bytes))
  } catch (cause) {
    throw new MalformedEventError('event body is not UTF-8 JSON', { context: { bytes: bytes.length }, cause })
  }
  return validate(value, 'event body is not a valid envelope', bytes.length)
}

// The patterns the schema's z.uuid() and z.iso.datetime({ offset: true }) use, for the check below.
const uuidPattern = z.regexes.uuid()
const datetimePattern = z.regexes.datetime({ offset: true })
const text = (v: unknown) => typeof v === 'string' && v.length > 0

/**
 * The schema's checks written out, for the valid envelope (every one a relay or a broker sees): zod's parse
 * was a tenth of a relay's CPU per event. It returns the same object zod would (the known keys, in the schema's
 * order); anything it does not accept goes through zod, which words the issues.
 */
function quickValidate(value: unknown): EventEnvelope | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const v = value as Record<string, unknown>
  if (
    typeof v.id === 'string' &&
    uuidPattern.test(v.id) &&
    text(v.aggregateType) &&
    text(v.aggregateId) &&
    Number.isSafeInteger(v.aggregateVersion) &&
    (v.aggregateVersion as number) >= 0 &&
    text(v.type) &&
    // zod requires the key (its value may be anything, undefined included).
    'payload' in v &&
    isStringRecord(v.headers) &&
    typeof v.createdAt === 'string' &&
    datetimePattern.test(v.createdAt)
  ) {
    return {
      id: v.id,
      aggregateType: v.aggregateType as string,
      aggregateId: v.aggregateId as string,
      aggregateVersion: v.aggregateVersion as number,
      type: v.type as string,
      payload: v.payload,
      headers: v.headers,
      createdAt: v.createdAt,
    }
  }
  return undefined
}

function validate(value: unknown, message: string, bytes?: number): EventEnvelope {
  const quick = quickValidate(value)
  if (quick) return quick
  const result = envelopeSchema.safeParse(value)
  if (result.success) return result.data as EventEnvelope
  const issues = result.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
  throw new MalformedEventError(`${message}: ${issues.join('; ')}`, {
    context: { issues, ...(bytes === undefined ? {} : { bytes }) },
  })
}
