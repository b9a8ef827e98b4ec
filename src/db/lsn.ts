import { InvalidInputError } from '../errors.js'

const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/

/** True when `text` is a pg_lsn in its text form ('0/16B3748'). */
export function isLsn(text: unknown): text is string {
  return typeof text === 'string' && LSN.test(text)
}

/** A pg_lsn as a 64-bit position: the high word before the slash, the low word after it. */
export function lsnToBigInt(lsn: string): bigint {
  const match = LSN.exec(lsn)
  if (!match) throw new InvalidInputError(`not a PostgreSQL LSN: ${JSON.stringify(lsn)}`, { lsn })
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`)
}

/** The text form PostgreSQL prints for a 64-bit WAL position. */
export function formatLsn(position: bigint): string {
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`
}

/** Compares two pg_lsn values as PostgreSQL does: negative, zero or positive. */
export function compareLsn(a: string, b: string): number {
  const x = lsnToBigInt(a)
  const y = lsnToBigInt(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** `a - b` in bytes of WAL (as `pg_wal_lsn_diff`), as a number: exact up to 2^53 bytes. */
export function lsnDiff(a: string, b: string): number {
  return Number(lsnToBigInt(a) - lsnToBigInt(b))
}

/** The later of two LSNs (either may be null). */
export function maxLsn(a: string | null, b: string | null): string | null {
  if (a === null) return b
  if (b === null) return a
  return compareLsn(a, b) >= 0 ? a : b
}

/**
 * The WAL position just after a commit, read on its connection once COMMIT returned. With a synchronous
 * commit the commit record is flushed, so the flushed position is at or past its end. With
 * synchronous_commit off it may not be flushed yet, so the insert position (always past it) is used; that
 * one can sit just past a page header a replica reports only after more WAL, which costs a primary read,
 * never a stale one.
 */
export const COMMIT_LSN_SQL = `SELECT (CASE WHEN current_setting('synchronous_commit') = 'off'
  THEN pg_current_wal_insert_lsn() ELSE pg_current_wal_lsn() END)::text AS lsn`
