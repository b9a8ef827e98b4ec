import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { envelopeSchema } from '../../src/broker/envelope.js'
import {
  decodeEnvelope,
  type EventEnvelope,
  encodeEnvelope,
  MalformedEventError,
  newEventId,
} from '../../src/broker/index.js'
import { sleep } from '../support/wait.js'

const valid = (): EventEnvelope => ({
  id: newEventId(),
  aggregateType: 'product',
  aggregateId: '42',
  aggregateVersion: 3,
  type: 'PriceChanged',
  payload: { price: 12.5 },
  headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  createdAt: '2025-01-02T03:04:05.678Z',
})

describe('event envelope', () => {
  it('makes UUIDv7 ids that sort by creation', async () => {
    const a = newEventId()
    await sleep(2)
    const b = newEventId()
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(a < b).toBe(true)
  })

  it('round-trips any JSON payload and string headers', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.dictionary(fc.string(), fc.string()),
        fc.string({ minLength: 1 }),
        fc.nat(),
        (payload, headers, aggregateId, version) => {
          const e = { ...valid(), payload, headers, aggregateId, aggregateVersion: version }
          // JSON has no -0: compare with what JSON itself keeps.
          expect(decodeEnvelope(encodeEnvelope(e))).toEqual(JSON.parse(JSON.stringify(e)))
        },
      ),
    )
  })

  it('keeps a header named __proto__ as data, without touching the prototype', () => {
    const headers = JSON.parse('{"__proto__":"x","traceparent":"t"}') as Record<string, string>
    const decoded = decodeEnvelope(encodeEnvelope({ ...valid(), headers }))
    expect(Object.keys(decoded.headers).sort()).toEqual(['__proto__', 'traceparent'])
    expect(Object.getPrototypeOf(decoded.headers)).toBe(Object.prototype)
  })

  it.each([
    ['not UTF-8', new Uint8Array([0xff, 0xfe])],
    ['not JSON', new TextEncoder().encode('{oops')],
    ['a JSON array', new TextEncoder().encode('[1,2]')],
    ['a bad id', new TextEncoder().encode(JSON.stringify({ ...valid(), id: 'x' }))],
    ['a fractional version', new TextEncoder().encode(JSON.stringify({ ...valid(), aggregateVersion: 1.5 }))],
    ['a non-string header', new TextEncoder().encode(JSON.stringify({ ...valid(), headers: { a: 1 } }))],
    ['a bad date', new TextEncoder().encode(JSON.stringify({ ...valid(), createdAt: 'yesterday' }))],
    ['no aggregate id', new TextEncoder().encode(JSON.stringify({ ...valid(), aggregateId: '' }))],
  ])('rejects %s with E_MALFORMED_EVENT', (_, bytes) => {
    try {
      decodeEnvelope(bytes)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(MalformedEventError)
      expect((error as MalformedEventError).code).toBe('E_MALFORMED_EVENT')
      expect((error as MalformedEventError).context.bytes).toBe(bytes.length)
    }
  })

  it('refuses to encode an invalid envelope or an unserialisable payload', () => {
    expect(() => encodeEnvelope({ ...valid(), type: '' })).toThrow(MalformedEventError)
    expect(() => encodeEnvelope({ ...valid(), payload: { n: 1n } })).toThrow(/cannot be serialised/)
  })
})

describe('event envelope: the hand-written check', () => {
  // Valid and invalid values of each field, mixed at random: encodeEnvelope (hand-written check first, zod on
  // refusal) must accept exactly what the schema accepts, and encode exactly the schema's output.
  const field = (...values: unknown[]) => fc.constantFrom(...values)
  const candidate = fc.record(
    {
      id: field(
        newEventId(),
        '00000000-0000-0000-0000-000000000000',
        'x',
        'A1B2C3D4-0000-7000-8000-000000000000',
        7,
      ),
      aggregateType: field('order', '', 3, null),
      aggregateId: field('o1', '', undefined),
      aggregateVersion: field(0, 3, -0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, '3', Number.NaN),
      type: field('t', '', {}),
      payload: field({ a: 1 }, null, [1], 'x', undefined),
      headers: field({}, { a: 'b' }, { a: 1 }, [], null, JSON.parse('{"__proto__":"x"}')),
      createdAt: field(
        '2025-01-02T03:04:05.678Z',
        '2025-01-02T03:04:05+02:00',
        '2025-01-02T03:04:05',
        '2025-01-02T03:04Z',
        '2025-13-02T03:04:05Z',
        'yesterday',
      ),
      extra: field(undefined, 'dropped'),
    },
    { requiredKeys: ['id', 'aggregateType', 'aggregateVersion', 'type', 'headers', 'createdAt'] },
  )
  it('refuses an envelope with no payload key, as the schema does (a counterexample the property found)', () => {
    const noPayload = {
      id: '01a24234-9d69-77bd-b4b4-7d2d052cf568',
      aggregateType: 'order',
      aggregateId: 'o1',
      aggregateVersion: 0,
      type: 't',
      headers: {},
      createdAt: '2025-01-02T03:04:05.678Z',
    }
    expect(envelopeSchema.safeParse(noPayload).success).toBe(false)
    expect(() => encodeEnvelope(noPayload as unknown as EventEnvelope)).toThrow(MalformedEventError)
    expect(() => encodeEnvelope({ ...noPayload, payload: undefined } as EventEnvelope)).not.toThrow()
  })
  it('accepts what the schema accepts, and encodes what it outputs', () => {
    fc.assert(
      fc.property(candidate, (value) => {
        const expected = envelopeSchema.safeParse(value)
        let encoded: string | undefined
        try {
          encoded = new TextDecoder().decode(encodeEnvelope(value as unknown as EventEnvelope))
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedEventError)
        }
        expect(encoded !== undefined).toBe(expected.success)
        if (expected.success) expect(encoded).toBe(JSON.stringify(expected.data))
      }),
      { numRuns: 2000 },
    )
  })
})
