import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { context, SpanKind, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Broker } from '../../src/broker/index.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createOtelInstrumentation } from '../../src/otel/index.js'
import { createInbox, createOutbox, createRelay, outboxMigrations } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// One order's trace on real servers: an HTTP request writes the order and its event (outbox, PostgreSQL), the
// relay sends it to NATS, a consumer handles it through the inbox. Every span is in the request's trace.
describe('an order traced from the HTTP request to the consumer', () => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const otel = createOtelInstrumentation({ tracerProvider: provider })
  const app = provider.getTracer('shop')
  let shards: Shards
  let broker: Broker
  let server: Server

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
    otel.start()
    const db = await sharedServices().postgres.createDatabase('otel_trace')
    shards = createShards({
      shards: [{ primary: createPgNode({ connectionString: db.primaryUrl, max: 4 }) }],
    })
    await shards.migrate(outboxMigrations)
    await shards.onShard(0, (tx) => tx.query('CREATE TABLE orders (id text PRIMARY KEY, total int NOT NULL)'))
    broker = createNatsBroker({ servers: sharedServices().nats.url, prefix: uniqueName('otel') })
    const outbox = createOutbox()
    // What HTTP instrumentation would do: the request's SERVER span is active while the route runs.
    server = createServer((req, res) => {
      app.startActiveSpan(`${req.method} /orders`, { kind: SpanKind.SERVER }, async (span) => {
        const id = req.url!.split('/').pop()!
        await shards.withTransaction(id, async (tx) => {
          await tx.query('INSERT INTO orders (id, total) VALUES ($1, $2)', [id, 42])
          await outbox.add(tx, {
            aggregateType: 'order',
            aggregateId: id,
            aggregateVersion: 1,
            type: 'order.placed',
            payload: { total: 42 },
          })
        })
        res.writeHead(201).end()
        span.end()
      })
    })
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  })
  afterAll(async () => {
    otel.close()
    context.disable()
    await new Promise((done) => server?.close(done))
    await broker?.close()
    await shards?.close()
  })

  it('has one traceId, the request as the root, send and process under it, the handler under process', async () => {
    const relay = createRelay({ shards, broker, id: 'otel-relay' })
    await relay.start()
    const inbox = createInbox({ shards, consumer: 'billing' })
    const handled: string[] = []
    const sub = await broker.subscribe('order', 'billing', async (event) => {
      await inbox.handle(event, async (_tx, _ev, ctx) => {
        await app.startActiveSpan('charge card', async (span) => span.end())
        handled.push(ctx.traceparent)
      })
    })
    const { port } = server.address() as AddressInfo
    const response = await fetch(`http://127.0.0.1:${port}/orders/o-1`, { method: 'POST' })
    expect(response.status).toBe(201)
    await waitFor(() => handled.length === 1, { timeoutMs: 20_000, what: 'the order handled' })
    await sub.close()
    await relay.close()

    const spans = exporter.getFinishedSpans()
    const one = (name: string): ReadableSpan => {
      const found = spans.filter((s) => s.name === name)
      expect(found.map((s) => s.name)).toEqual([name])
      return found[0]!
    }
    const request = one('POST /orders')
    const send = one('send order')
    const process = one('process order')
    const handle = one('handle billing')
    const charge = one('charge card')
    const traceId = request.spanContext().traceId
    for (const span of [send, process, handle, charge]) expect(span.spanContext().traceId).toBe(traceId)
    expect(request.parentSpanContext).toBeUndefined()
    // The event carries the request's context: the relay's send and the consumer's process continue it.
    expect(send.parentSpanContext?.spanId).toBe(request.spanContext().spanId)
    expect(process.parentSpanContext?.spanId).toBe(request.spanContext().spanId)
    expect(handle.parentSpanContext?.spanId).toBe(process.spanContext().spanId)
    expect(charge.parentSpanContext?.spanId).toBe(handle.spanContext().spanId)
    // The handler's ctx.traceparent is the inbox span: what it writes downstream continues the trace.
    expect(handled[0]).toBe(`00-${traceId}-${handle.spanContext().spanId}-01`)
    expect(send.kind).toBe(SpanKind.PRODUCER)
    expect(process.kind).toBe(SpanKind.CONSUMER)
    expect(send.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'order',
    })
    expect(process.attributes).toMatchObject({
      'messaging.system': 'nats',
      'messaging.consumer.group.name': 'billing',
      'messaging.message.id': send.attributes['messaging.message.id'],
    })
    // The claim that took the event: a database client span of the relay's own (a loop, not the request's trace).
    const claims = spans.filter(
      (s) => s.name === 'claim concord_outbox' && s.attributes['db.response.returned_rows'] === 1,
    )
    expect(claims).toHaveLength(1)
    expect(claims[0]!.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'concord.shard': 0 })
    expect(trace.getActiveSpan()).toBeUndefined()
  })
})
