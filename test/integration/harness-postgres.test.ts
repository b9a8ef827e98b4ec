import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type PostgresServer, startPostgres } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// Fault tests pause and kill servers, so they run on a pair of their own, not the shared one.
let server: PostgresServer
beforeAll(async () => {
  server = await startPostgres()
})
afterAll(async () => {
  await server?.close()
})

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

async function query<T extends Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 })
  client.on('error', () => {})
  await client.connect()
  try {
    return (await client.query<T>(sql, params)).rows
  } finally {
    await client.end().catch(() => {})
  }
}

describe('postgres replica replay', () => {
  it('lags while replay is paused, serving the old value, and catches up after resume', async () => {
    const db = await server.createDatabase('paused')
    await query(db.primaryUrl, 'create table price (sku text primary key, cents int not null)')
    await query(db.primaryUrl, `insert into price values ('p1', 100)`)
    await server.waitForReplica()
    expect((await query(db.replicaUrl!, 'select cents from price'))[0]!.cents).toBe(100)

    await server.pauseReplay()
    try {
      await query(db.primaryUrl, `update price set cents = 200 where sku = 'p1'`)
      await query(db.primaryUrl, 'insert into price select g::text, g from generate_series(1, 1000) g')
      const lag = await server.replicaLag()
      expect(lag.bytes).toBeGreaterThan(0)
      // Seconds since the last replayed commit (before the pause): positive, and growing while replay waits.
      expect(lag.seconds).toBeGreaterThan(0)
      expect(lag.seconds).toBeLessThan(60)
      const later = await server.replicaLag()
      expect(later.bytes).toBe(lag.bytes)
      expect(later.seconds).toBeGreaterThan(lag.seconds)
      expect((await query(db.replicaUrl!, `select cents from price where sku = 'p1'`))[0]!.cents).toBe(100)
    } finally {
      await server.resumeReplay()
    }
    await server.waitForReplica()
    expect((await query(db.replicaUrl!, `select cents from price where sku = 'p1'`))[0]!.cents).toBe(200)
    expect(await server.replicaLag()).toEqual({ bytes: 0, seconds: 0 })
  })
})

describe('postgres kill and restart', () => {
  it('SIGKILLs the primary and brings it back on the same port; the replica follows again', async () => {
    const db = await server.createDatabase('crash')
    await query(db.primaryUrl, 'create table t (v int)')
    await query(db.primaryUrl, 'insert into t values (1)')
    const { port, pid } = server.primary
    await server.primary.kill()
    expect(gone(pid)).toBe(true)
    await expect(query(db.primaryUrl, 'select 1')).rejects.toThrow()

    await server.primary.restart()
    expect(server.primary.port).toBe(port)
    expect(server.primary.pid).not.toBe(pid)
    // Crash recovery kept the committed row; the replica reconnects and replays new writes.
    expect((await query(db.primaryUrl, 'select count(*)::int as n from t'))[0]!.n).toBe(1)
    await query(db.primaryUrl, 'insert into t values (2)')
    await waitFor(async () => (await query(db.replicaUrl!, 'select count(*)::int as n from t'))[0]!.n === 2, {
      timeoutMs: 15_000,
      what: 'replica to follow the restarted primary',
    })
  })

  it('stops and restarts the replica', async () => {
    const replica = server.replica!
    await replica.stop()
    await expect(query(replica.url(), 'select 1')).rejects.toThrow()
    await replica.restart()
    await server.waitForReplica()
    expect((await query(replica.url(), 'select pg_is_in_recovery() as r'))[0]!.r).toBe(true)
  })

  it('starts a primary alone when asked', async () => {
    const alone = await startPostgres({ replica: false })
    try {
      expect(alone.replica).toBeUndefined()
      const db = await alone.createDatabase('alone')
      expect(db.replicaUrl).toBeUndefined()
      expect((await query(db.primaryUrl, 'select current_database() as d'))[0]!.d).toBe(db.name)
      await expect(alone.pauseReplay()).rejects.toThrow(/without a replica/)
    } finally {
      await alone.close()
    }
  })
})
