import { Packr } from 'msgpackr'
import type { Serializer } from '../cache/index.js'
import { SerializationError } from '../errors.js'

/** msgpackr: smaller and faster for large values; keeps Date, BigInt, Map and Set natively. */
export function msgpackSerializer(): Serializer {
  const packr = new Packr({ useRecords: false, useBigIntExtension: true, moreTypes: true })
  return {
    name: 'msgpack',
    serialize(value) {
      if (value === undefined) throw new SerializationError('cannot serialise undefined')
      try {
        return packr.pack(value)
      } catch (error) {
        throw new SerializationError(`cannot serialise value: ${(error as Error).message}`, { cause: error })
      }
    },
    deserialize(data, offset) {
      try {
        return packr.unpack(data.subarray(offset))
      } catch (error) {
        throw new SerializationError(`cannot parse cached msgpack: ${(error as Error).message}`, {
          cause: error,
        })
      }
    },
  }
}
