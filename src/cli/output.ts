/** Where a command writes: tables for people, JSON (`--json`) for scripts; progress goes to stderr. */
export interface Output {
  readonly json: boolean
  /** Rows as a table (people) or a JSON array (scripts). */
  rows(rows: readonly object[], columns: readonly string[]): void
  /** One value as `key: value` lines (people) or a JSON object (scripts). */
  value(value: unknown): void
  /** A line for people (also in JSON mode, on stderr, so stdout stays parseable). */
  note(line: string): void
  /** Progress of long work, on stderr. */
  progress(line: string): void
}

export interface Io {
  stdout: (text: string) => void
  stderr: (text: string) => void
}

export function createOutput(io: Io, json: boolean): Output {
  return {
    json,
    rows(rows, columns) {
      if (json) return io.stdout(`${JSON.stringify(rows, null, 2)}\n`)
      io.stdout(`${table(rows as Record<string, unknown>[], columns)}\n`)
    },
    value(value) {
      if (json) return io.stdout(`${JSON.stringify(value, null, 2)}\n`)
      const entries = Object.entries((value ?? {}) as Record<string, unknown>)
      const width = Math.max(0, ...entries.map(([k]) => k.length))
      io.stdout(`${entries.map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`).join('\n')}\n`)
    },
    note(line) {
      if (json) io.stderr(`${line}\n`)
      else io.stdout(`${line}\n`)
    },
    progress(line) {
      io.stderr(`${line}\n`)
    },
  }
}

/** A plain text table: a header row, then one row per record, columns padded to their widest cell. */
export function table(rows: readonly Record<string, unknown>[], columns: readonly string[]): string {
  if (rows.length === 0) return '(none)'
  const cells = rows.map((row) => columns.map((c) => cell(row[c])))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)))
  const line = (parts: string[]) =>
    parts
      .map((p, i) => p.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()
  return [line(columns.map((c) => c.toUpperCase())), ...cells.map(line)].join('\n')
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '-'
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'object') return JSON.stringify(value)
  const text = String(value)
  return text.length > 80 ? `${text.slice(0, 77)}...` : text.replace(/\s+/g, ' ')
}
