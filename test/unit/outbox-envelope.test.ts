import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { assertEnvelope, prepareEvent } from '../../src/outbox/envelope.js'
import { MalformedEventError } from '../../src/outbox/errors.js'
import {
  childTraceparent,
  isTraceparent,
  newTraceparent,
  traceIdOf,
  withTraceContext,
} from '../../src/outbox/trace.js'

const base = {
  aggregateType: 'product',
  aggregateId: 7,
  aggregateVersion: 3,
  type: 'product.updated',
  payload: { a: 1 },
}

describe('outbox envelope', () => {
  it('fills id (UUIDv7), createdAt and a traceparent, and serialises the payload', () => {
    const { envelope, payloadJson, headersJson } = prepareEvent(base)
    expect(envelope.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/)
    expect(envelope.aggregateId).toBe('7')
    expect(isTraceparent(envelope.headers.traceparent)).toBe(true)
    expect(JSON.parse(payloadJson)).toEqual({ a: 1 })
    expect(JSON.parse(headersJson)).toEqual(envelope.headers)
    expect(() => assertEnvelope(envelope)).not.toThrow()
  })

  it('keeps a caller traceparent, else takes the ambient one, else starts a trace', () => {
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
    expect(prepareEvent({ ...base, headers: { traceparent: tp } }).envelope.headers.traceparent).toBe(tp)
    expect(prepareEvent(base, () => tp).envelope.headers.traceparent).toBe(tp)
    const bad = withTraceContext({ traceparent: 'garbage', tracestate: 'x=1' })
    expect(isTraceparent(bad.traceparent)).toBe(true)
    expect(bad.tracestate).toBeUndefined() // a tracestate without its trace is dropped
  })

  it('names the bad field of any malformed event', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ aggregateType: '' }, 'aggregateType'],
      [{ aggregateId: null }, 'aggregateId'],
      [{ aggregateVersion: -1 }, 'aggregateVersion'],
      [{ type: 3 }, 'type'],
      [{ payload: () => 1 }, 'payload'],
      [{ createdAt: 'yesterday' }, 'createdAt'],
      [{ headers: { a: 1 } }, 'headers'],
    ]
    for (const [patch, field] of cases) {
      const error = (() => {
        try {
          prepareEvent({ ...base, ...patch } as never)
        } catch (e) {
          return e
        }
      })()
      expect(error).toBeInstanceOf(MalformedEventError)
      expect((error as MalformedEventError).context.field).toBe(field)
    }
  })

  it('child spans stay in the trace; any string is either a valid traceparent or replaced', () => {
    const parent = newTraceparent()
    const child = childTraceparent(parent)
    expect(traceIdOf(child)).toBe(traceIdOf(parent))
    expect(child).not.toBe(parent)
    fc.assert(
      fc.property(fc.string(), (s) => {
        const h = withTraceContext({ traceparent: s })
        return isTraceparent(h.traceparent) && (isTraceparent(s) ? h.traceparent === s : true)
      }),
    )
  })
})
