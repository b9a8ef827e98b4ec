import { type TracingChannel, tracingChannel } from 'node:diagnostics_channel'

/**
 * Tracing without a tracing library: each traced point of concord is a Node `TracingChannel` (what BentoCache
 * 1.6 does), and a `Tracer` port that `concord/otel` fills with OpenTelemetry. With neither a tracer set nor a
 * channel subscriber, a traced call costs a check of both and nothing else: no message, no span, no import.
 * docs/guides/tracing.md lists every point, its span name, attributes and events.
 */

/** The traced points; each is also the name of its `TracingChannel`. */
export const TRACE_CHANNELS = {
  cacheGetOrLoad: 'concord.cache.getOrLoad',
  relayClaim: 'concord.relay.claim',
  relayPublish: 'concord.relay.publish',
  brokerProcess: 'concord.broker.process',
  inboxHandle: 'concord.inbox.handle',
  sagaStep: 'concord.saga.step',
  sagaCompensate: 'concord.saga.compensate',
} as const

/** A traced point's name (`cacheGetOrLoad`, `relayClaim`, ...); its channel is `TRACE_CHANNELS[point]`. */
export type TracePoint = keyof typeof TRACE_CHANNELS
/** An attribute's value, as OpenTelemetry accepts it. */
export type TraceAttributeValue = string | number | boolean
/** Span or event attributes by name (the names are in docs/guides/tracing.md). */
export type TraceAttributes = Record<string, TraceAttributeValue>
/** OpenTelemetry's span kinds, as the messaging and database conventions use them. */
export type TraceSpanKind = 'internal' | 'client' | 'producer' | 'consumer'

/**
 * What a `TracingChannel` subscriber receives (the same object in start, end, asyncStart, asyncEnd and error), and
 * what a `Tracer` starts its span from. `attributes` and `events` grow while the operation runs: read them at
 * `asyncEnd`. Node itself adds `result` or `error`.
 */
export interface TraceMessage {
  readonly point: TracePoint
  /** The span name, following the conventions (`send orders`, `process orders`, `getOrLoad products`). */
  readonly name: string
  readonly kind: TraceSpanKind
  readonly attributes: TraceAttributes
  readonly events: { name: string; time: number; attributes?: TraceAttributes }[]
  /** The remote parent (an event's `traceparent`) for work that continues a producer's trace. */
  readonly parent?: string
  /** Other traces this work belongs to (the `traceparent`s of a batch's events). */
  readonly links?: readonly string[]
  result?: unknown
  error?: unknown
}

/** The running span as a `Tracer` exposes it to the traced operation. */
export interface TraceSpan {
  /** Sets one attribute on the span (a later value for the same name wins). */
  setAttribute(name: string, value: TraceAttributeValue): void
  /** Records a point in time on the span (a fill, a fencing rejection). */
  addEvent(name: string, attributes?: TraceAttributes): void
}

/** The tracer port (`concord/otel` adapts OpenTelemetry to it). */
export interface Tracer {
  /**
   * Runs `fn` inside a span started from `message`, the active span for the call (what `fn` starts, and
   * `traceparent()`, see it as the parent); ends it when `fn` settles, recording a rejection as the span's error.
   */
  run<T>(message: TraceMessage, fn: (span: TraceSpan) => Promise<T>): Promise<T>
  /** The active span's W3C `traceparent`, if any. */
  traceparent(): string | undefined
}

/** What a traced operation reports to while it runs: the message, and the tracer's span when there is one. */
export interface SpanRecorder {
  set(name: string, value: TraceAttributeValue): void
  event(name: string, attributes?: TraceAttributes): void
}

export interface SpanInit {
  name: string
  kind: TraceSpanKind
  attributes: TraceAttributes
  parent?: string | undefined
  links?: readonly string[] | undefined
}

const channels = {} as Record<TracePoint, TracingChannel<TraceMessage, TraceMessage>>
for (const [point, name] of Object.entries(TRACE_CHANNELS)) {
  channels[point as TracePoint] = tracingChannel<TraceMessage, TraceMessage>(name)
}

let installed: Tracer | undefined

/** Sets (or with `undefined` removes) the process-wide tracer. `concord/otel`'s instrumentation calls it. */
export function setTracer(tracer: Tracer | undefined): void {
  installed = tracer
}

/** The tracer set, if any. */
export function currentTracer(): Tracer | undefined {
  return installed
}

/** Is anyone listening at `point`? Lets a hot path skip building what only a span would read. */
export function tracing(point: TracePoint): boolean {
  return installed !== undefined || channels[point].hasSubscribers
}

/** The active span's `traceparent` when a tracer is set (for the events a traced caller writes). */
export function activeTraceparent(): string | undefined {
  return installed?.traceparent()
}

const NOOP: SpanRecorder = { set() {}, event() {} }

/** Runs `fn` as the point's span and channel events; plainly, with a no-op recorder, when nobody listens. */
export function traced<T>(
  point: TracePoint,
  init: SpanInit,
  fn: (span: SpanRecorder) => Promise<T>,
): Promise<T> {
  const channel = channels[point]
  const tracer = installed
  const listening = channel.hasSubscribers
  if (tracer === undefined && !listening) return fn(NOOP)
  const message: TraceMessage = {
    point,
    name: init.name,
    kind: init.kind,
    attributes: { ...init.attributes },
    events: [],
    ...(init.parent !== undefined && { parent: init.parent }),
    ...(init.links !== undefined && init.links.length > 0 && { links: init.links }),
  }
  const body = (span: TraceSpan | undefined) => {
    const recorder: SpanRecorder = {
      set(name, value) {
        message.attributes[name] = value
        span?.setAttribute(name, value)
      },
      event(name, attributes) {
        message.events.push({ name, time: Date.now(), ...(attributes && { attributes }) })
        span?.addEvent(name, attributes)
      },
    }
    return listening ? channel.tracePromise(fn, message, undefined, recorder) : fn(recorder)
  }
  return tracer ? tracer.run(message, body) : body(undefined)
}
