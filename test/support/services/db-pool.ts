import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { POOL_PREFIX } from './pg-admin.js'

/**
 * Keeps `size` spare databases ready on a PostgreSQL server, so that createDatabase() in a test is a
 * rename (ms) instead of a CREATE DATABASE (hundreds of ms to seconds). Runs in the process that
 * started the server (the global setup) and creates one database at a time in the background;
 * test workers claim spares by renaming them (pg-admin.ts), which also makes the claim atomic.
 */
export function startDatabasePool(url: string, size = 4): { stop(): Promise<void> } {
  let stopped = false
  let wake: (() => void) | undefined
  const client = new pg.Client({ connectionString: url })
  // The server may be killed under us at teardown; that simply ends the loop.
  client.on('error', () => {
    stopped = true
  })

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve
      setTimeout(resolve, ms).unref()
    })

  void (async () => {
    await client.connect()
    while (!stopped) {
      const { rows } = await client.query<{ n: number }>(
        'select count(*)::int as n from pg_database where starts_with(datname, $1)',
        [POOL_PREFIX],
      )
      if (rows[0]!.n < size) {
        await client.query(`create database "${POOL_PREFIX}${randomBytes(6).toString('hex')}"`)
      } else {
        await pause(50)
      }
    }
  })().catch(() => {
    // A failed refill only means the next createDatabase() falls back to CREATE DATABASE.
  })

  return {
    // Does not wait for a CREATE DATABASE in flight: the server is about to be killed anyway.
    async stop() {
      stopped = true
      wake?.()
      await client.end().catch(() => {})
    },
  }
}
