import { describe, expect, it } from 'vitest'
import { decode, encode } from '../../src/cache/envelope.js'
import { jsonSerializer } from '../../src/cache/serializer.js'
import { SerializationError } from '../../src/errors.js'
import { msgpackSerializer } from '../../src/msgpack/index.js'

const sample = {
  id: 7,
  name: 'lamp',
  at: new Date('2024-05-01T10:00:00.123Z'),
  big: 2n ** 70n,
  nested: [{ when: new Date(0), n: -5n }, null, 'x'],
}

describe.each([
  ['json', jsonSerializer()],
  ['msgpack', msgpackSerializer()],
])('%s serializer', (_name, serializer) => {
  it('round-trips Date and BigInt inside an envelope', () => {
    const blob = encode(serializer, sample, 1234)
    const envelope = decode(serializer, blob)
    expect(envelope).toEqual({ negative: false, value: sample, expiresAt: 1234 })
    expect((envelope.value as typeof sample).at).toBeInstanceOf(Date)
  })

  it('encodes cached absence without calling the serializer', () => {
    expect(decode(serializer, encode(serializer, undefined, 99))).toEqual({
      negative: true,
      value: undefined,
      expiresAt: 99,
    })
  })

  it('rejects a corrupt entry with a typed error', () => {
    expect(() => decode(serializer, Buffer.from('garbage'))).toThrow(SerializationError)
  })
})

describe('json serializer', () => {
  const json = jsonSerializer()
  it.each([
    ['a function', { f: () => 1 }],
    ['a symbol', { s: Symbol('x') }],
    ['a Map', { m: new Map([[1, 2]]) }],
    ['a Set', { s: new Set([1]) }],
  ])('refuses %s instead of silently dropping it', (_what, value) => {
    expect(() => json.serialize(value)).toThrow(SerializationError)
  })

  it('refuses circular structures', () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(() => json.serialize(cycle)).toThrow(SerializationError)
  })

  it('parses plain data without a reviver, marked by the first character', () => {
    expect(json.serialize({ a: 1 })).toBe('0{"a":1}')
    expect(String(json.serialize({ d: new Date(0) })).startsWith('1')).toBe(true)
  })
})
