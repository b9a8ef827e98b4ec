/**
 * concord/otel: concord's spans through OpenTelemetry, built on the optional peer dependency `@opentelemetry/api`.
 * Without this subpath concord imports no OpenTelemetry code; its points still publish to `TracingChannel`s
 * (see `TRACE_CHANNELS` in `concord`, and docs/guides/tracing.md).
 */
export {
  createOtelInstrumentation,
  type OtelInstrumentation,
  type OtelInstrumentationOptions,
} from './tracer.js'
