import { InvalidInputError } from '../errors.js'

/**
 * PostgreSQL log sequence numbers (`pg_lsn`, written `'16/B374D848'`): two hex halves of a 64-bit position.
 * They must be compared as numbers, never as strings (`'0/9' > '0/10'` as text).
 */
const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/

/** True when `text` is a well-formed pg_lsn. */
export function isLsn(text: unknown): text is string {
  return typeof text === 'string' && LSN.test(text)
}

/** The LSN as a 64-bit bigint (`hi << 32 | lo`); throws `InvalidInputError` (E_INVALID_INPUT) when malformed. */
export function lsnToBigInt(lsn: string): bigint {
  const match = LSN.exec(lsn)
  if (!match) throw new InvalidInputError(`not a pg_lsn: ${JSON.stringify(lsn)}`, { lsn })
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function compareLsn(a: string, b: string): number {
  const x = lsnToBigInt(a)
  const y = lsnToBigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** The later of the LSNs given (`undefined` entries are skipped); `undefined` when none is given. */
export function maxLsn(...lsns: (string | undefined)[]): string | undefined {
  let best: string | undefined
  for (const lsn of lsns) {
    if (lsn === undefined) continue
    if (best === undefined || compareLsn(lsn, best) > 0) best = lsn
  }
  return best
}
