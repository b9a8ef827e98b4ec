export * from './errors.js'
export type { Duration } from './options.js'
export {
  setTracer,
  TRACE_CHANNELS,
  type TraceAttributes,
  type TraceAttributeValue,
  type TraceMessage,
  type TracePoint,
  type Tracer,
  type TraceSpan,
  type TraceSpanKind,
} from './tracing.js'
