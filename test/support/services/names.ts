import { randomBytes } from 'node:crypto'

let counter = 0

/**
 * A name no other test (file, worker or concurrent run) uses: `${prefix}_${pid}_${counter}_${random}`,
 * only [a-z0-9_], so it is safe as a database name, a Redis key prefix or a NATS stream name.
 * The prefix is cut so the whole stays within PostgreSQL's 63-byte identifier limit.
 */
export function uniqueName(prefix: string): string {
  counter += 1
  const clean =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 32) || 't'
  // A database name must not start with a digit when unquoted; keep it a letter.
  const safe = /^[a-z_]/.test(clean) ? clean : `t_${clean}`
  return `${safe}_${process.pid}_${counter}_${randomBytes(4).toString('hex')}`
}
