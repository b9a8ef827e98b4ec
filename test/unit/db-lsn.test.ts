import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareLsn, isLsn } from '../../src/db/index.js'
import { formatLsn, lsnDiff, lsnToBigInt } from '../../src/db/lsn.js'
import { InvalidInputError } from '../../src/errors.js'

const position = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })

describe('LSN arithmetic', () => {
  it('compares as 64-bit positions, not as text', () => {
    expect(compareLsn('0/16B3748', '0/16B3748')).toBe(0)
    expect(compareLsn('0/9', '0/10')).toBe(-1) // text order would say otherwise
    expect(compareLsn('1/0', '0/FFFFFFFF')).toBe(1)
    expect(compareLsn('0/a', '0/A')).toBe(0)
  })

  it('round-trips through the text form and orders like the numbers', () => {
    fc.assert(
      fc.property(position, position, (a, b) => {
        expect(lsnToBigInt(formatLsn(a))).toBe(a)
        expect(compareLsn(formatLsn(a), formatLsn(b))).toBe(a < b ? -1 : a > b ? 1 : 0)
      }),
    )
  })

  it('measures the distance in bytes like pg_wal_lsn_diff', () => {
    expect(lsnDiff('0/16B3800', '0/16B3748')).toBe(0xb8)
    expect(lsnDiff('1/0', '0/FFFFFFFF')).toBe(1)
    expect(lsnDiff('0/0', '0/10')).toBe(-16)
  })

  it('rejects what is not an LSN with a typed error', () => {
    for (const bad of ['', '16B3748', '0/', '/1', '0/123456789', 'x/1', '0/1 ']) {
      expect(isLsn(bad)).toBe(false)
      expect(() => lsnToBigInt(bad)).toThrow(InvalidInputError)
    }
    expect(isLsn(42)).toBe(false)
  })
})
