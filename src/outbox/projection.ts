import type { Connection } from '../db/kit.js'
import { assertConnection } from '../db/kit.js'
import { InvalidIdentifierError } from './errors.js'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/** What `applyIfNewer` writes: a row keyed by `key`, at `version`, with `values` (full state, not a delta). */
export interface VersionedUpsert {
  table: string
  /** The primary-key column(s) and their values. */
  key: Record<string, unknown>
  /** The aggregate version the event carries. */
  version: number
  /** Other columns of the projection, as of `version`. */
  values: Record<string, unknown>
  /** @default 'version' */
  versionColumn?: string
}

/**
 * Upserts a projection row only if `version` is newer than the one it holds, in one statement (no read-then-write
 * race between two consumers). A duplicate or an older, reordered event is a no-op, so a projection never
 * regresses (C7). Because a later event may arrive first, events must carry the full state they project, not
 * a delta. Returns whether the row changed.
 * @throws InvalidIdentifierError when a table or column name is not a plain identifier.
 */
export async function applyIfNewer(q: Connection, upsert: VersionedUpsert): Promise<boolean> {
  assertConnection(q, 'applyIfNewer')
  const table = ident(upsert.table)
  const versionColumn = ident(upsert.versionColumn ?? 'version')
  const keyColumns = Object.keys(upsert.key).map(ident)
  const valueColumns = Object.keys(upsert.values).map(ident)
  const columns = [...keyColumns, versionColumn, ...valueColumns]
  const params = [...Object.values(upsert.key), upsert.version, ...Object.values(upsert.values)]
  const placeholders = params.map((_, i) => `$${i + 1}`)
  const set = [versionColumn, ...valueColumns].map((c) => `${c} = EXCLUDED.${c}`).join(', ')
  const { rowCount } = await q.query(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${placeholders.join(', ')})
     ON CONFLICT (${keyColumns.join(', ')}) DO UPDATE SET ${set}
     WHERE ${table}.${versionColumn} < EXCLUDED.${versionColumn}`,
    params,
  )
  return (rowCount ?? 0) > 0
}

/** Should an event at `incoming` replace state at `current`? (For projections kept outside SQL, e.g. a search index.) */
export function isNewer(current: number | null | undefined, incoming: number): boolean {
  return current === null || current === undefined || incoming > current
}

function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new InvalidIdentifierError(name)
  return `"${name}"`
}
