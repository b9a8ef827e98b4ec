import { type EventEnvelope, MalformedEventError, newEventId } from '../broker/kit.js'
import { withTraceContext } from './trace.js'

export type { EventEnvelope }
export { newEventId }

/** What a writer gives `outbox.add`: an envelope whose `id`, `headers` and `createdAt` may be left out. */
export interface EventInput<P = unknown> {
  id?: string
  aggregateType: string
  aggregateId: string | number
  aggregateVersion: number
  type: string
  payload: P
  headers?: Record<string, string>
  createdAt?: Date | string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Validates an event and fills in its id, trace context and creation time.
 * Returns the envelope and its payload and headers already serialised (what the outbox stores).
 * @throws MalformedEventError naming the first bad field.
 */
export function prepareEvent(
  input: EventInput,
  currentTraceparent?: () => string | undefined,
): { envelope: EventEnvelope; payloadJson: string; headersJson: string } {
  if (input === null || typeof input !== 'object') throw bad('event', 'is not an object')
  const id = input.id ?? newEventId()
  if (typeof id !== 'string' || !UUID.test(id)) throw bad('id', 'is not a UUID', { id })
  const aggregateType = requireName('aggregateType', input.aggregateType)
  const aggregateId =
    typeof input.aggregateId === 'number' && Number.isSafeInteger(input.aggregateId)
      ? String(input.aggregateId)
      : requireName('aggregateId', input.aggregateId)
  const aggregateVersion = input.aggregateVersion
  if (!Number.isSafeInteger(aggregateVersion) || aggregateVersion < 0) {
    throw bad('aggregateVersion', 'is not a non-negative integer', { aggregateVersion })
  }
  const type = requireName('type', input.type)
  const headers = withTraceContext(requireHeaders(input.headers ?? {}), currentTraceparent)
  const createdAt = requireTime(input.createdAt)
  const payloadJson = toJson(input.payload)
  const envelope: EventEnvelope = {
    id: id.toLowerCase(),
    aggregateType,
    aggregateId,
    aggregateVersion,
    type,
    payload: input.payload,
    headers,
    createdAt,
  }
  return { envelope, payloadJson, headersJson: JSON.stringify(headers) }
}

/**
 * Checks an envelope received from a broker (or read back from a table) before a handler sees it.
 * @throws MalformedEventError naming the first bad field.
 */
export function assertEnvelope(event: unknown): asserts event is EventEnvelope {
  if (event === null || typeof event !== 'object') throw bad('event', 'is not an object')
  const e = event as Record<string, unknown>
  if (typeof e.id !== 'string' || !UUID.test(e.id)) throw bad('id', 'is not a UUID')
  requireName('aggregateType', e.aggregateType)
  requireName('aggregateId', e.aggregateId)
  if (!Number.isSafeInteger(e.aggregateVersion) || (e.aggregateVersion as number) < 0) {
    throw bad('aggregateVersion', 'is not a non-negative integer')
  }
  requireName('type', e.type)
  if (!('payload' in e) || e.payload === undefined) throw bad('payload', 'is missing')
  if (e.headers !== undefined) requireHeaders(e.headers)
}

function requireName(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw bad(field, 'is not a non-empty string', { [field]: value })
  }
  if (value.length > 512) throw bad(field, 'is longer than 512 characters')
  return value
}

function requireHeaders(headers: unknown): Record<string, string> {
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw bad('headers', 'is not an object of strings')
  }
  for (const [key, value] of Object.entries(headers)) {
    if (typeof value !== 'string') throw bad('headers', `.${key} is not a string`)
  }
  return headers as Record<string, string>
}

function requireTime(value: Date | string | undefined): string {
  if (value === undefined) return new Date().toISOString()
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) throw bad('createdAt', 'is not a valid time')
  return date.toISOString()
}

function toJson(payload: unknown): string {
  let text: string | undefined
  try {
    text = JSON.stringify(payload)
  } catch (cause) {
    throw bad('payload', `is not serialisable as JSON: ${(cause as Error).message}`)
  }
  if (text === undefined) throw bad('payload', 'is not a JSON value')
  return text
}

function bad(field: string, reason: string, context: Record<string, unknown> = {}): MalformedEventError {
  return new MalformedEventError(`malformed event: ${field} ${reason}`, {
    context: { field, reason, ...context },
  })
}
