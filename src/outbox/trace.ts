import { randomBytes } from 'node:crypto'

/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) carried as the `traceparent` header of an event,
 * from the writer's transaction through the outbox and the broker to the consumer. No tracing library needed:
 * a caller with OpenTelemetry passes its active `traceparent`; without one, concord starts a trace.
 */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** Is `value` a well-formed `traceparent` (version 00, non-zero trace and span ids)? */
export function isTraceparent(value: unknown): value is string {
  if (typeof value !== 'string') return false
  const match = TRACEPARENT.exec(value)
  if (!match) return false
  return match[1] !== 'ff' && !/^0+$/.test(match[2]!) && !/^0+$/.test(match[3]!)
}

/** A fresh, sampled `traceparent` starting a new trace. */
export function newTraceparent(): string {
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`
}

/** The trace id (32 hex) of a `traceparent`, or `undefined` if it is malformed. */
export function traceIdOf(traceparent: unknown): string | undefined {
  return isTraceparent(traceparent) ? traceparent.slice(3, 35) : undefined
}

/**
 * A child span of `parent` in the same trace (what a consumer uses for the work an event causes);
 * a new trace if `parent` is missing or malformed.
 */
export function childTraceparent(parent: unknown): string {
  if (!isTraceparent(parent)) return newTraceparent()
  return `00-${parent.slice(3, 35)}-${randomBytes(8).toString('hex')}-${parent.slice(53, 55)}`
}

/** `headers` with a valid `traceparent`: the caller's (or `current()`'s) if well-formed, else a new trace. */
export function withTraceContext(
  headers: Readonly<Record<string, string>>,
  current?: () => string | undefined,
): Record<string, string> {
  if (isTraceparent(headers.traceparent)) return { ...headers }
  const ambient = current?.()
  const { tracestate, ...rest } = headers
  // A tracestate without its traceparent has no meaning: keep it only with the caller's own trace.
  if (isTraceparent(ambient)) return { ...rest, ...(tracestate ? { tracestate } : {}), traceparent: ambient }
  return { ...rest, traceparent: newTraceparent() }
}
