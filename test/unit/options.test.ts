import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ConcordError, InvalidOptionsError } from '../../src/errors.js'
import { duration, parseOptions } from '../../src/options.js'

const schema = z.object({
  name: z.string().min(1),
  ttl: duration.prefault('30s'),
  l1: z.object({ maxEntries: z.number().int().positive().default(1000) }).default({ maxEntries: 1000 }),
})

describe('parseOptions', () => {
  it('applies defaults from the schema and freezes the result', () => {
    const options = parseOptions('createThing', schema, { name: 'products' })
    expect(options).toEqual({ name: 'products', ttl: 30_000, l1: { maxEntries: 1000 } })
    expect(Object.isFrozen(options)).toBe(true)
  })

  it('reads durations people write', () => {
    expect(parseOptions('t', schema, { name: 'a', ttl: '250ms' }).ttl).toBe(250)
    expect(parseOptions('t', schema, { name: 'a', ttl: '5m' }).ttl).toBe(300_000)
    expect(parseOptions('t', schema, { name: 'a', ttl: '1.5s' }).ttl).toBe(1500)
    expect(parseOptions('t', schema, { name: 'a', ttl: 42 }).ttl).toBe(42)
  })

  it('names the bad option and the value in a typed error', () => {
    let caught: unknown
    try {
      parseOptions('createThing', schema, { name: 'a', l1: { maxEntries: -3 } })
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(InvalidOptionsError)
    expect(caught).toBeInstanceOf(ConcordError)
    const error = caught as InvalidOptionsError
    expect(error.code).toBe('E_INVALID_OPTIONS')
    expect(error.context.option).toBe('l1.maxEntries')
    expect(error.context.value).toBe(-3)
    expect(error.message).toContain('createThing')
    expect(error.message).toContain('l1.maxEntries')
  })

  it('rejects a duration it cannot read', () => {
    expect(() => parseOptions('t', schema, { name: 'a', ttl: '10 minutes' })).toThrow(/ttl/)
    expect(() => parseOptions('t', schema, { name: 'a', ttl: -1 })).toThrow(InvalidOptionsError)
  })
})

describe('ConcordError', () => {
  it('keeps code, context and cause, and names the subclass', () => {
    const cause = new Error('socket closed')
    const error = new ConcordError('E_SOMETHING', 'it broke', { context: { key: 'p:1' }, cause })
    expect(error.name).toBe('ConcordError')
    expect(error.code).toBe('E_SOMETHING')
    expect(error.context).toEqual({ key: 'p:1' })
    expect(error.cause).toBe(cause)
    expect(Object.isFrozen(error.context)).toBe(true)
  })
})
