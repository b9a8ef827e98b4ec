import { SerializationError } from '../errors.js'
import type { Serializer } from './serializer.js'

/**
 * What L2 stores per key: a one-byte kind (`v` value, `n` cached absence), the logical expiry (ms since epoch, in
 * ASCII), `|`, then the serialised value. The logical expiry is what makes an entry stale; the physical Redis TTL
 * is longer by the grace period, so a stale value can still be served when the loader fails.
 */
export interface Envelope {
  negative: boolean
  value: unknown
  expiresAt: number
}

const VALUE = 0x76 // 'v'
const NEGATIVE = 0x6e // 'n'
const BAR = 0x7c // '|'

export function encode(serializer: Serializer, value: unknown, expiresAt: number): Buffer {
  if (value === undefined) return Buffer.from(`n${expiresAt}|`)
  const data = serializer.serialize(value)
  if (typeof data === 'string') return Buffer.from(`v${expiresAt}|${data}`)
  return Buffer.concat([Buffer.from(`v${expiresAt}|`), data])
}

export function decode(serializer: Serializer, blob: Buffer): Envelope {
  const kind = blob[0]
  const bar = blob.indexOf(BAR, 1)
  if ((kind !== VALUE && kind !== NEGATIVE) || bar < 2) {
    throw new SerializationError('cached entry has an unknown format', { context: { length: blob.length } })
  }
  const expiresAt = digits(blob, bar)
  if (kind === NEGATIVE) return { negative: true, value: undefined, expiresAt }
  return { negative: false, value: serializer.deserialize(blob, bar + 1), expiresAt }
}

/** The logical expiry in a blob's header (Infinity when the header is not ours: a tier then treats it as fresh). */
export function blobExpiry(blob: Buffer): number {
  const bar = blob.indexOf(BAR, 1)
  if ((blob[0] !== VALUE && blob[0] !== NEGATIVE) || bar < 2) return Number.POSITIVE_INFINITY
  return digits(blob, bar)
}

/** The header's expiry: the ASCII digits between the kind byte and the bar at `bar`. */
function digits(blob: Buffer, bar: number): number {
  let expiresAt = 0
  for (let i = 1; i < bar; i++) expiresAt = expiresAt * 10 + (blob[i]! - 48)
  return expiresAt
}
