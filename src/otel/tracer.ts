import {
  type Context,
  context,
  isSpanContextValid,
  type Link,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import { z } from 'zod'
import { parseOptions } from '../options.js'
import { currentTracer, setTracer, type Tracer, type TraceSpan, type TraceSpanKind } from '../tracing.js'

export const schema = z.object({
  /** The provider spans come from. @default the global one (`trace.getTracerProvider()`) */
  tracerProvider: z
    .custom<TracerProvider>((v) => typeof (v as TracerProvider)?.getTracer === 'function')
    .optional(),
  /** The instrumentation scope's name. @default 'concord' */
  tracerName: z.string().min(1).default('concord'),
})

export interface OtelInstrumentationOptions {
  /** The provider spans come from. @default the global one (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider
  /** The instrumentation scope's name. @default 'concord' */
  tracerName?: string
}

export interface OtelInstrumentation {
  /** Sets this as concord's tracer: every traced point then starts an OpenTelemetry span. */
  start(): void
  /** Removes it again (when it is still the one set). */
  close(): void
  /** The port itself, for tests and for wrapping. */
  readonly tracer: Tracer
}

const KINDS: Record<TraceSpanKind, SpanKind> = {
  internal: SpanKind.INTERNAL,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
}

/**
 * concord's spans through `@opentelemetry/api` (an optional peer, loaded only by this subpath). The span of each
 * traced point is active while the point runs, so the user's own spans inside a loader, handler or saga step are
 * its children; consumer work takes the event's `traceparent` as its remote parent.
 */
export function createOtelInstrumentation(options?: OtelInstrumentationOptions): OtelInstrumentation {
  const o = parseOptions('createOtelInstrumentation', schema, options)
  const provider = o.tracerProvider ?? trace.getTracerProvider()
  const otel = provider.getTracer(o.tracerName)
  const tracer: Tracer = {
    run(message, fn) {
      const parent =
        message.parent === undefined ? context.active() : remote(context.active(), message.parent)
      const links = message.links?.flatMap((tp): Link[] => {
        const spanContext = spanContextOf(tp)
        return spanContext ? [{ context: spanContext }] : []
      })
      const span = otel.startSpan(
        message.name,
        { kind: KINDS[message.kind], attributes: message.attributes, ...(links?.length && { links }) },
        parent,
      )
      return context.with(trace.setSpan(parent, span), () => settle(span, fn(adapt(span))))
    },
    traceparent() {
      const spanContext = trace.getActiveSpan()?.spanContext()
      if (!spanContext || !isSpanContextValid(spanContext)) return undefined
      return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`
    },
  }
  return {
    tracer,
    start() {
      setTracer(tracer)
    },
    close() {
      if (currentTracer() === tracer) setTracer(undefined)
    },
  }
}

async function settle<T>(span: Span, work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error))
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) })
    throw error
  } finally {
    span.end()
  }
}

function adapt(span: Span): TraceSpan {
  return {
    setAttribute: (name, value) => void span.setAttribute(name, value),
    addEvent: (name, attributes) => void span.addEvent(name, attributes),
  }
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

function spanContextOf(traceparent: string): SpanContext | undefined {
  const match = TRACEPARENT.exec(traceparent)
  if (!match) return undefined
  const spanContext = {
    traceId: match[1]!,
    spanId: match[2]!,
    traceFlags: Number.parseInt(match[3]!, 16),
    isRemote: true,
  }
  return isSpanContextValid(spanContext) ? spanContext : undefined
}

function remote(active: Context, traceparent: string): Context {
  const spanContext = spanContextOf(traceparent)
  return spanContext ? trace.setSpanContext(active, spanContext) : active
}
