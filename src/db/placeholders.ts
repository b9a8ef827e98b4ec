import type { SqlStatement } from './types.js'

/** A statement's text and values, whichever of node-postgres' two forms it came in (the name is dropped). */
export function textAndValues(
  statement: string | SqlStatement,
  values: unknown[] | undefined,
): { text: string; values: unknown[] } {
  return typeof statement === 'string'
    ? { text: statement, values: values ?? [] }
    : { text: statement.text, values: statement.values ?? values ?? [] }
}

/**
 * Splits `$1`-style text at its placeholders: `parts[i]` is SQL, `indexes[i]` the zero-based value index between
 * `parts[i]` and `parts[i + 1]`. For clients whose raw API numbers placeholders itself (Knex's `?`, Drizzle's
 * params). concord's statements hold no `$n` inside string literals.
 */
export function splitPlaceholders(text: string): { parts: string[]; indexes: number[] } {
  const pieces = text.split(/\$(\d+)/)
  const parts: string[] = []
  const indexes: number[] = []
  pieces.forEach((piece, i) => {
    if (i % 2 === 0) parts.push(piece)
    else indexes.push(Number(piece) - 1)
  })
  return { parts, indexes }
}
