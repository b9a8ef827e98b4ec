import { compareLsn } from '../db/kit.js'

// One pg_lsn implementation for the whole package (concord/db's); the cache adds only its variadic max.
export { compareLsn, isLsn, lsnToBigInt } from '../db/kit.js'

/** The later of the LSNs given (`undefined` entries are skipped); `undefined` when none is given. */
export function maxLsn(...lsns: (string | undefined)[]): string | undefined {
  let best: string | undefined
  for (const lsn of lsns) {
    if (lsn === undefined) continue
    if (best === undefined || compareLsn(lsn, best) > 0) best = lsn
  }
  return best
}
