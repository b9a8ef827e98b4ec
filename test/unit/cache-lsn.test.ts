import { describe, expect, it } from 'vitest'
import { compareLsn, isLsn, lsnToBigInt, maxLsn } from '../../src/cache/lsn.js'
import { ConcordError } from '../../src/errors.js'

describe('LSN helpers', () => {
  it('compares numerically, not as text', () => {
    expect(compareLsn('0/9', '0/10')).toBeLessThan(0)
    expect(compareLsn('1/0', '0/FFFFFFFF')).toBeGreaterThan(0)
    expect(compareLsn('16/B374D848', '16/b374d848')).toBe(0)
  })

  it('maps hi/lo to a 64-bit bigint', () => {
    expect(lsnToBigInt('1/2')).toBe((1n << 32n) | 2n)
    expect(lsnToBigInt('FFFFFFFF/FFFFFFFF')).toBe((1n << 64n) - 1n)
  })

  it('maxLsn picks the latest and skips undefined', () => {
    expect(maxLsn('0/16B3748', undefined, '0/16B3749', '0/100')).toBe('0/16B3749')
    expect(maxLsn()).toBeUndefined()
    expect(maxLsn(undefined)).toBeUndefined()
  })

  it('rejects malformed LSNs with a typed error', () => {
    expect(isLsn('0/1')).toBe(true)
    expect(isLsn('0-1')).toBe(false)
    expect(() => compareLsn('x', '0/1')).toThrow(ConcordError)
    expect(() => lsnToBigInt('12/')).toThrow(expect.objectContaining({ code: 'E_INVALID_INPUT' }))
  })
})
