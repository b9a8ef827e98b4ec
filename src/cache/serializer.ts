import { SerializationError } from '../errors.js'

/**
 * Turns values into bytes for L2 and the lease hand-off. `serialize` throws `SerializationError` (E_SERIALIZATION)
 * for a value it cannot represent faithfully, so nothing half-right is cached.
 */
export interface Serializer {
  readonly name: string
  /** The bytes (or text) stored in L2 for `value`. */
  serialize(value: unknown): string | Uint8Array
  /** Reads the value from `data` starting at byte `offset` (the cache's envelope header precedes it). */
  deserialize(data: Buffer, offset: number): unknown
}

// Markers for the two types JSON loses. A one-key object with this exact key is read back as the type;
// '\u0000' keeps a collision with real data improbable.
const DATE = '\u0000date'
const BIGINT = '\u0000bigint'

/**
 * JSON that keeps `Date` and `BigInt`. It refuses what JSON would silently drop or mangle (functions, symbols,
 * `Map`, `Set`, circular structures) instead of caching a different value. The first character of the output
 * says whether the reviver is needed, so plain data parses at native speed.
 */
export function jsonSerializer(): Serializer {
  let revive = false
  function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
    const original = this[key]
    if (original instanceof Date) {
      revive = true
      return { [DATE]: Number.isNaN(original.getTime()) ? null : original.toISOString() }
    }
    switch (typeof value) {
      case 'bigint':
        revive = true
        return { [BIGINT]: value.toString() }
      case 'function':
      case 'symbol':
        throw new SerializationError(`cannot serialise a ${typeof value} at ${path(key)}`, {
          context: { key },
        })
      case 'object':
        if (value instanceof Map || value instanceof Set) {
          throw new SerializationError(`cannot serialise a ${value.constructor.name} at ${path(key)}`, {
            context: { key },
          })
        }
    }
    return value
  }
  function reviver(_key: string, value: unknown): unknown {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const record = value as Record<string, unknown>
      if (DATE in record) return new Date(record[DATE] === null ? Number.NaN : (record[DATE] as string))
      if (BIGINT in record) return BigInt(record[BIGINT] as string)
    }
    return value
  }
  return {
    name: 'json',
    serialize(value) {
      if (value === undefined) throw new SerializationError('cannot serialise undefined')
      revive = false
      let text: string
      try {
        text = JSON.stringify(value, replacer)
      } catch (error) {
        if (error instanceof SerializationError) throw error
        throw new SerializationError(`cannot serialise value: ${(error as Error).message}`, { cause: error })
      }
      return (revive ? '1' : '0') + text
    },
    deserialize(data, offset) {
      const text = data.toString('utf8', offset + 1)
      try {
        return data[offset] === 0x31 ? JSON.parse(text, reviver) : JSON.parse(text)
      } catch (error) {
        throw new SerializationError(`cannot parse cached JSON: ${(error as Error).message}`, {
          cause: error,
        })
      }
    },
  }
}

function path(key: string): string {
  return key === '' ? 'the top level' : `key ${JSON.stringify(key)}`
}
