import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { compareRecords, compareVersions } from '../../src/checker/index.js'
import { reservoirSample } from '../../src/checker/sample.js'

const rules = (o: { required?: boolean; fields?: string[]; ignore?: string[] } = {}) => ({
  required: o.required ?? false,
  fields: o.fields,
  ignore: new Set(o.ignore ?? []),
})

describe('compareVersions', () => {
  it('orders integers numerically across numbers, bigints and integer strings', () => {
    expect(compareVersions(9, '10')).toBeLessThan(0)
    expect(compareVersions(10n, 9)).toBeGreaterThan(0)
    expect(compareVersions('7', 7n)).toBe(0)
  })

  it('treats other strings as equal or incomparable, never ordered', () => {
    expect(compareVersions('abc', 'abc')).toBe(0)
    expect(compareVersions('abc', 'abd')).toBeNaN()
  })
})

describe('compareRecords', () => {
  const row = { id: 1, name: 'lamp', price: 10, stock: 5, updatedAt: 'x' }

  it('agrees when versions and values match', () => {
    expect(
      compareRecords({ version: 3, value: row }, { version: 3, value: { ...row } }, rules()),
    ).toBeUndefined()
  })

  it('reports a version difference before looking at values', () => {
    const finding = compareRecords({ version: 3, value: row }, { version: 2, value: row }, rules())
    expect(finding).toEqual({ kind: 'version', sourceVersion: '3', copyVersion: '2' })
  })

  it('finds a corrupted value that kept its version, naming the fields', () => {
    const finding = compareRecords(
      { version: 3, value: row },
      { version: 3, value: { ...row, price: 1 } },
      rules(),
    )
    expect(finding).toEqual({ kind: 'value', fields: ['price'], sourceVersion: '3', copyVersion: '3' })
  })

  it('ignores the fields it is told to, and compares only `fields` when given', () => {
    const copy = { version: 3, value: { ...row, updatedAt: 'y' } }
    expect(compareRecords({ version: 3, value: row }, copy, rules({ ignore: ['updatedAt'] }))).toBeUndefined()
    const projection = { version: 3, value: { id: 1, name: 'lamp', price: 10 } }
    expect(
      compareRecords({ version: 3, value: row }, projection, rules({ fields: ['id', 'name', 'price'] })),
    ).toBe(undefined)
    expect(compareRecords({ version: 3, value: row }, projection, rules())?.fields).toEqual([
      'stock',
      'updatedAt',
    ])
  })

  it('treats an absent copy as fine for caches and missing for required copies; extra when the source has none', () => {
    expect(compareRecords({ value: row }, undefined, rules())).toBeUndefined()
    expect(compareRecords({ version: 1, value: row }, undefined, rules({ required: true }))).toEqual({
      kind: 'missing',
      sourceVersion: '1',
    })
    expect(compareRecords(undefined, { value: row }, rules())?.kind).toBe('extra')
    expect(compareRecords(undefined, undefined, rules({ required: true }))).toBeUndefined()
  })

  it('compares non-object values deeply', () => {
    expect(compareRecords({ value: [1, 2] }, { value: [1, 2] }, rules())).toBeUndefined()
    expect(compareRecords({ value: 'a' }, { value: 'b' }, rules())?.fields).toEqual(['(value)'])
    expect(compareRecords({ value: new Date(1) }, { value: new Date(2) }, rules())?.kind).toBe('value')
  })

  it('property: a copy equal outside the ignored fields always agrees; any other change is found', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1, maxLength: 5 }), fc.jsonValue(), { minKeys: 1 }),
        fc.jsonValue(),
        (value, noise) => {
          const [first] = Object.keys(value)
          const noisy = { ...value, [first!]: noise }
          const ignoring = compareRecords({ value }, { value: noisy }, rules({ ignore: [first!] }))
          expect(ignoring).toBeUndefined()
          const strict = compareRecords({ value }, { value: noisy }, rules())
          expect(strict?.fields).toEqual(isDeepStrictEqual(value[first!], noise) ? undefined : [first])
        },
      ),
    )
  })
})

describe('reservoirSample', () => {
  it('returns everything when n covers the population, and n distinct items otherwise', () => {
    expect(reservoirSample([1, 2, 3], 5).sort()).toEqual([1, 2, 3])
    const picked = reservoirSample(
      Array.from({ length: 100 }, (_, i) => i),
      10,
    )
    expect(new Set(picked).size).toBe(10)
    expect(reservoirSample([1, 2], 0)).toEqual([])
  })

  it('picks every item with about equal probability', () => {
    const hits = new Array(10).fill(0)
    for (let i = 0; i < 4000; i++)
      for (const x of reservoirSample(
        Array.from({ length: 10 }, (_, j) => j),
        3,
      ))
        hits[x]++
    // expected 1200 each; a biased reservoir (e.g. always keeping the first n) would be far off
    for (const h of hits) expect(h).toBeGreaterThan(1000)
  })
})
