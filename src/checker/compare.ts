import { isDeepStrictEqual } from 'node:util'
import type { DivergenceKind, Version, Versioned } from './types.js'

/** What a comparison needs to know about the copy beyond the two records. */
export interface CompareRules {
  required: boolean
  /** Compare only these fields, when set. */
  fields: readonly string[] | undefined
  ignore: ReadonlySet<string>
}

/** A difference between the source and a copy. */
export interface Finding {
  kind: DivergenceKind
  sourceVersion?: string
  copyVersion?: string
  fields?: string[]
}

const INTEGER = /^-?\d+$/

function asBigInt(v: Version): bigint | undefined {
  if (typeof v === 'bigint') return v
  if (typeof v === 'number') return Number.isInteger(v) ? BigInt(v) : undefined
  return INTEGER.test(v) ? BigInt(v) : undefined
}

/**
 * Orders two versions: negative when `a` is older, 0 when equal, positive when newer. Integers (numbers, bigints,
 * integer strings) are ordered numerically, so `'10' > 9`; other numbers numerically; anything else is only
 * equal or not (NaN when not: neither is known to be newer).
 */
export function compareVersions(a: Version, b: Version): number {
  const x = asBigInt(a)
  const y = asBigInt(b)
  if (x !== undefined && y !== undefined) return x < y ? -1 : x > y ? 1 : 0
  if (typeof a === 'number' && typeof b === 'number') return a - b
  return String(a) === String(b) ? 0 : Number.NaN
}

/**
 * Compares a copy's record with the source's. Versions decide first when both records carry one; at equal
 * versions (or without them) the values are compared field by field, minus the ignored fields, so a corrupted
 * entry that kept its version is still found. Returns `undefined` when the copy agrees.
 */
export function compareRecords(
  source: Versioned | undefined,
  copy: Versioned | undefined,
  rules: CompareRules,
): Finding | undefined {
  if (source === undefined)
    return copy === undefined ? undefined : withVersions({ kind: 'extra' }, source, copy)
  if (copy === undefined) return rules.required ? withVersions({ kind: 'missing' }, source, copy) : undefined
  if (source.version !== undefined && copy.version !== undefined) {
    if (compareVersions(source.version, copy.version) !== 0) {
      return withVersions({ kind: 'version' }, source, copy)
    }
  }
  const fields = differingFields(source.value, copy.value, rules)
  return fields.length === 0 ? undefined : withVersions({ kind: 'value', fields }, source, copy)
}

/** Top-level fields that differ (`['(value)']` when the values are not both plain objects and differ). */
export function differingFields(
  a: unknown,
  b: unknown,
  rules: Pick<CompareRules, 'fields' | 'ignore'>,
): string[] {
  if (!isRecord(a) || !isRecord(b)) return isDeepStrictEqual(a, b) ? [] : ['(value)']
  const names = rules.fields ?? [...new Set([...Object.keys(a), ...Object.keys(b)])]
  return names.filter((name) => !rules.ignore.has(name) && !isDeepStrictEqual(a[name], b[name]))
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)
}

function withVersions(finding: Finding, source: Versioned | undefined, copy: Versioned | undefined): Finding {
  if (source?.version !== undefined) finding.sourceVersion = String(source.version)
  if (copy?.version !== undefined) finding.copyVersion = String(copy.version)
  return finding
}
