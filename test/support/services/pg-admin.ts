import pg from 'pg'
import { waitFor } from '../wait.js'

/**
 * Admin queries on a primary/replica pair, on short-lived connections. Shared by the servers a test
 * starts itself (postgres.ts) and by the run-wide ones a test worker reaches through inject() (shared.ts).
 */

export function pgUrl(port: number, database = 'postgres', host = '127.0.0.1'): string {
  return `postgres://postgres@${host}:${port}/${database}`
}

export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 })
  // An admin connection that the server drops (a kill in a fault test) must not crash the worker.
  client.on('error', () => {})
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end().catch(() => {})
  }
}

export async function queryOne<T extends Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T> {
  return withClient(url, async (client) => (await client.query<T>(sql, params)).rows[0]!)
}

/** Is the server up and accepting queries (a hot standby counts once consistent)? */
export async function pgReady(url: string): Promise<boolean> {
  const row = await queryOne<{ ok: number }>(url, 'select 1 as ok')
  return row.ok === 1
}

async function primaryLsn(primaryUrl: string): Promise<string> {
  return (await queryOne<{ lsn: string }>(primaryUrl, 'select pg_current_wal_lsn()::text as lsn')).lsn
}

/** Until the replica has replayed everything the primary had written when this was called. */
export async function waitForReplica(
  primaryUrl: string,
  replicaUrl: string,
  timeoutMs = 30_000,
): Promise<void> {
  const target = await primaryLsn(primaryUrl)
  await withClient(replicaUrl, (client) =>
    waitFor(
      async () => {
        const { rows } = await client.query<{ done: boolean }>(
          'select pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) >= 0 as done',
          [target],
        )
        return rows[0]!.done
      },
      { timeoutMs, intervalMs: 5, what: `replica to replay up to ${target} (is replay paused?)` },
    ),
  )
}

/** Byte lag from LSNs; seconds since the last replayed commit, 0 when caught up. */
export async function replicaLag(
  primaryUrl: string,
  replicaUrl: string,
): Promise<{ bytes: number; seconds: number }> {
  const target = await primaryLsn(primaryUrl)
  const row = await queryOne<{ bytes: string; seconds: number | null }>(
    replicaUrl,
    `select pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn())::text as bytes,
            extract(epoch from now() - pg_last_xact_replay_timestamp())::float8 as seconds`,
    [target],
  )
  const bytes = Math.max(0, Number(row.bytes))
  return { bytes, seconds: bytes > 0 ? Math.max(0, row.seconds ?? 0) : 0 }
}

/**
 * Takes a database from the pool (see db-pool.ts) by renaming it; false when the pool is empty.
 * The rename is the claim: of two workers racing for one, the loser gets an error and tries the next.
 */
async function claimPooled(client: pg.Client, name: string): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { rows } = await client.query<{ datname: string }>(
      'select datname from pg_database where starts_with(datname, $1) order by random() limit 1',
      [POOL_PREFIX],
    )
    if (!rows[0]) return false
    try {
      await client.query(`alter database "${rows[0].datname}" rename to "${name}"`)
      return true
    } catch {
      // Renamed by someone else in between: try another one.
    }
  }
  return false
}

export const POOL_PREFIX = 'concord_pool_'

/**
 * A database with a unique name on the primary: a pre-created one from the pool when there is one
 * (a rename takes ms; CREATE DATABASE copies ~8 MB and can take a second on a busy disk), else a new
 * one. With a replica, waits until the replica has replayed it, so a test can read there at once.
 */
export async function createDatabase(
  primaryPort: number,
  replicaPort: number | undefined,
  name: string,
): Promise<{ name: string; primaryUrl: string; replicaUrl?: string }> {
  await withClient(pgUrl(primaryPort), async (client) => {
    if (!(await claimPooled(client, name))) await client.query(`create database "${name}"`)
  })
  const primaryUrl = pgUrl(primaryPort, name)
  if (replicaPort === undefined) return { name, primaryUrl }
  await waitForReplica(pgUrl(primaryPort), pgUrl(replicaPort))
  return { name, primaryUrl, replicaUrl: pgUrl(replicaPort, name) }
}
