/**
 * The tracing guide (docs/guides/tracing.md): concord's spans through concord/otel, an in-memory exporter standing
 * in for your SDK's; a span started inside a loader is the child of concord's. Embedded: no servers.
 * Run: node --import tsx --conditions=source docs/snippets/guides/tracing/otel.ts
 */
// #region otel
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createCache } from 'concord/cache'
import { createMemoryTier } from 'concord/memory'
import { createOtelInstrumentation } from 'concord/otel'

// Your SDK (NodeSDK, or NodeTracerProvider.register(), does this): a provider with its exporter, and a context
// manager. Here an exporter that keeps the spans in memory.
const exporter = new InMemorySpanExporter()
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }),
)
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())

const otel = createOtelInstrumentation() // { tracerProvider?, tracerName?: 'concord' }
otel.start() // ... otel.close() on shutdown

// concord's span is active while its point runs: a span the loader starts is its child.
const products = createCache<string>({ name: 'products', l2: createMemoryTier() })
const shop = trace.getTracer('shop')
const load = () =>
  shop.startActiveSpan('SELECT products', async (span) => {
    span.end()
    return 'lamp'
  })
await products.getOrLoad('product:1', load) // a miss: getOrLoad products > SELECT products
await products.getOrLoad('product:1', load) // an L1 hit: getOrLoad products, tier l1
// #endregion otel

const spans = exporter.getFinishedSpans()
for (const span of spans) {
  const parent = spans.find((s) => s.spanContext().spanId === span.parentSpanContext?.spanId)
  const tier = span.attributes['cache.tier']
  console.log(`${span.name}${tier ? ` (tier ${tier})` : ''}${parent ? `, child of ${parent.name}` : ''}`)
}
otel.close()
await products.close()
