import { spawnSync } from 'node:child_process'
import { tracingChannel } from 'node:diagnostics_channel'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { context } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createCache } from '../../src/cache/index.js'
import { TRACE_CHANNELS, type TraceMessage } from '../../src/index.js'
import { createMemoryBroker, createMemorySagaLog, createMemoryTier } from '../../src/memory/index.js'
import { createOtelInstrumentation } from '../../src/otel/index.js'
import { createSagaEngine, defineSaga } from '../../src/saga/index.js'
import { orderEvent } from '../support/broker-events.js'
import { waitFor } from '../support/wait.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

/** Every message of one channel, as its subscribers see them at `asyncEnd` (attributes and events complete). */
function listen(name: string) {
  const ended: TraceMessage[] = []
  const started: string[] = []
  const channel = tracingChannel<TraceMessage, TraceMessage>(name)
  const subscribers = {
    start: (m: TraceMessage) => void started.push(m.name),
    end: () => {},
    asyncStart: () => {},
    asyncEnd: (m: TraceMessage) => void ended.push(m),
    error: () => {},
  }
  channel.subscribe(subscribers)
  return { ended, started, close: () => channel.unsubscribe(subscribers) }
}

describe('TracingChannel events', () => {
  it('reports getOrLoad: the tier each value came from, the fill, and a fill an invalidation rejected', async () => {
    const tap = listen(TRACE_CHANNELS.cacheGetOrLoad)
    const cache = createCache<string>({ name: 'products', l2: createMemoryTier() })
    try {
      expect(await cache.getOrLoad('p1', async () => 'v1')).toBe('v1')
      expect(await cache.getOrLoad('p1', async () => 'unused')).toBe('v1')
      // A write while the loader runs: the loaded value may predate it, so the fill is refused (C3).
      await cache.getOrLoad('p2', async () => {
        await cache.invalidate('p2')
        return 'old'
      })
      expect(tap.started).toEqual(['getOrLoad products', 'getOrLoad products', 'getOrLoad products'])
      const [miss, hit, fenced] = tap.ended
      expect(miss!.attributes).toMatchObject({
        'cache.name': 'products',
        'cache.key': 'p1',
        'cache.tier': 'loader',
        'cache.hit': false,
      })
      expect(miss!.events.map((e) => e.name)).toEqual(['cache.fill'])
      expect(miss!.events[0]!.attributes).toEqual({ 'cache.fill.l2': true })
      expect(miss!.result).toBe('v1')
      expect(hit!.attributes).toMatchObject({ 'cache.key': 'p1', 'cache.tier': 'l1', 'cache.hit': true })
      expect(hit!.events).toEqual([])
      expect(fenced!.events.map((e) => [e.name, e.attributes?.['cache.fence.reason']])).toEqual([
        ['cache.fill.rejected', 'l2-token'],
      ])
    } finally {
      tap.close()
      await cache.close()
    }
  })

  it('reports a broker delivery as a consumer `process` with the event trace as its parent, and its error', async () => {
    const tap = listen(TRACE_CHANNELS.brokerProcess)
    const broker = createMemoryBroker()
    try {
      const event = {
        ...orderEvent('o1', 1),
        headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
      }
      await broker.publish('orders', [event])
      let calls = 0
      await broker.subscribe(
        'orders',
        'billing',
        async () => {
          if (++calls === 1) throw new Error('first try fails')
        },
        { backoff: { initial: 1, max: 1 } },
      )
      await waitFor(() => tap.ended.length === 2, { what: 'two deliveries' })
      expect(tap.ended[0]).toMatchObject({
        name: 'process orders',
        kind: 'consumer',
        parent: event.headers.traceparent,
        attributes: {
          'messaging.system': 'memory',
          'messaging.operation.type': 'process',
          'messaging.destination.name': 'orders',
          'messaging.consumer.group.name': 'billing',
          'messaging.message.id': event.id,
          'messaging.message.delivery_count': 1,
        },
      })
      expect((tap.ended[0]!.error as Error).message).toBe('first try fails')
      expect(tap.ended[1]!.attributes['messaging.message.delivery_count']).toBe(2)
      expect(tap.ended[1]!.error).toBeUndefined()
    } finally {
      tap.close()
      await broker.close()
    }
  })

  it('reports each saga step attempt and each compensation, failures with their error', async () => {
    const steps = listen(TRACE_CHANNELS.sagaStep)
    const compensations = listen(TRACE_CHANNELS.sagaCompensate)
    const fast = { attempts: 2, backoff: 1, maxBackoff: 1, timeout: 1_000 }
    const engine = createSagaEngine({
      log: createMemorySagaLog(),
      lease: 1_000,
      action: fast,
      forward: fast,
      compensation: fast,
    })
    try {
      const saga = engine.register(
        defineSaga('order', [
          { name: 'reserve', action: async () => 'r', compensate: async () => {} },
          {
            name: 'charge',
            action: async () => {
              throw new Error('card declined')
            },
            compensate: async () => {},
          },
        ]),
      )
      const outcome = await saga.run({}, { idempotencyKey: 'traced-1' })
      expect(outcome.status).toBe('COMPENSATED')
      expect(steps.started).toEqual(['step order.reserve', 'step order.charge', 'step order.charge'])
      expect(steps.ended[0]!.attributes).toEqual({
        'concord.saga.name': 'order',
        'concord.saga.id': outcome.id,
        'concord.saga.step': 'reserve',
        'concord.saga.phase': 'action',
      })
      expect(steps.ended.slice(1).map((m) => (m.error as Error).message)).toEqual([
        'card declined',
        'card declined',
      ])
      expect(compensations.started).toEqual(['compensate order.charge', 'compensate order.reserve'])
      expect(compensations.ended.map((m) => m.attributes['concord.saga.phase'])).toEqual([
        'compensate',
        'compensate',
      ])
    } finally {
      steps.close()
      compensations.close()
      await engine.close()
    }
  })

  it('builds no message when nobody listens', async () => {
    const cache = createCache<string>({ name: 'quiet' })
    const loads: string[] = []
    // Subscribed and unsubscribed again: hasSubscribers is false, and getOrLoad takes its untraced path.
    listen(TRACE_CHANNELS.cacheGetOrLoad).close()
    expect(tracingChannel(TRACE_CHANNELS.cacheGetOrLoad).hasSubscribers).toBe(false)
    const loader = async () => {
      loads.push('k')
      return 'v'
    }
    expect(await cache.getOrLoad('k', loader)).toBe('v')
    expect(loads).toEqual(['k'])
    await cache.close()
  })
})

describe('concord/otel', () => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const contextManager = new AsyncLocalStorageContextManager()
  const otel = createOtelInstrumentation({ tracerProvider: provider })

  beforeAll(() => {
    context.setGlobalContextManager(contextManager.enable())
    otel.start()
  })
  afterEach(() => exporter.reset())
  afterAll(() => {
    otel.close()
    context.disable()
  })

  it("makes getOrLoad a child of the caller's span, and the loader's own spans children of getOrLoad", async () => {
    const cache = createCache<string>({ name: 'products' })
    const app = provider.getTracer('app')
    await app.startActiveSpan('GET /products/p1', async (request) => {
      await cache.getOrLoad('p1', async () =>
        app.startActiveSpan('SELECT products', async (query) => {
          query.end()
          return 'v'
        }),
      )
      request.end()
    })
    const spans = exporter.getFinishedSpans()
    const byName = new Map(spans.map((s) => [s.name, s]))
    const request = byName.get('GET /products/p1')!
    const get = byName.get('getOrLoad products')!
    const select = byName.get('SELECT products')!
    expect(get.spanContext().traceId).toBe(request.spanContext().traceId)
    expect(get.parentSpanContext?.spanId).toBe(request.spanContext().spanId)
    expect(select.parentSpanContext?.spanId).toBe(get.spanContext().spanId)
    expect(get.attributes).toMatchObject({ 'cache.tier': 'loader', 'cache.hit': false, 'cache.key': 'p1' })
    expect(get.events.map((e) => e.name)).toEqual(['cache.fill'])
    await cache.close()
  })

  it('continues the event trace in the consumer span and records a handler error on it', async () => {
    const broker = createMemoryBroker()
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    await broker.publish('orders', [{ ...orderEvent('o1', 1), headers: { traceparent } }])
    await broker.subscribe(
      'orders',
      'billing',
      async () => {
        throw new Error('boom')
      },
      { maxDeliveries: 1 },
    )
    await waitFor(() => exporter.getFinishedSpans().length === 1, { what: 'the consumer span' })
    const [span] = exporter.getFinishedSpans()
    expect(span!.name).toBe('process orders')
    expect(span!.spanContext().traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736')
    expect(span!.parentSpanContext?.spanId).toBe('00f067aa0ba902b7')
    expect(span!.status.code).toBe(2) // SpanStatusCode.ERROR
    expect(span!.events.map((e) => e.name)).toEqual(['exception'])
    await broker.close()
  })

  it('stops making spans once closed', async () => {
    otel.close()
    const cache = createCache<string>({ name: 'after' })
    await cache.getOrLoad('k', async () => 'v')
    expect(exporter.getFinishedSpans()).toEqual([])
    otel.start()
    await cache.close()
  })
})

describe('without concord/otel', () => {
  it('imports no OpenTelemetry module (and the check would see one)', () => {
    // A resolve hook in a fresh process fails any @opentelemetry import; the control run imports concord/otel.
    const run = (subpaths: string[]) =>
      spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions=source',
          '--import',
          `data:text/javascript,${encodeURIComponent(
            `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOK)}`)})`,
          )}`,
          '--input-type=module',
          '-e',
          `${subpaths.map((s, i) => `import * as m${i} from '${s}'`).join('\n')}
           const cache = m0.createCache({ name: 'c' }); await cache.getOrLoad('k', async () => 'v'); await cache.close()`,
        ],
        { cwd: root, encoding: 'utf8', timeout: 30_000 },
      )
    const without = run(['concord/cache', 'concord/outbox', 'concord/broker', 'concord/saga', 'concord'])
    expect(without.stderr).toBe('')
    expect(without.status).toBe(0)
    const control = run(['concord/cache', 'concord/otel'])
    expect(control.stderr).toMatch(/E_OTEL_IMPORTED @opentelemetry\/api/)
    expect(control.status).not.toBe(0)
  })
})

const HOOK = `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@opentelemetry/')) throw new Error('E_OTEL_IMPORTED ' + specifier)
  return next(specifier, context)
}`
