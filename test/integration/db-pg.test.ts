import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createShards, type Shards } from '../../src/db/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { sharedServices } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// pg adapter behaviour that only a real server shows: true serialisation conflicts, connections killed
// under the pool and under the LISTEN connection. Runs on its own database of the shared pair.
let shards: Shards
let primaryUrl: string

beforeAll(async () => {
  const db = await sharedServices().postgres.createDatabase('db_pg')
  primaryUrl = db.primaryUrl
  shards = createShards({
    shards: [
      {
        primary: createPgNode({ connectionString: db.primaryUrl, applicationName: 'concord-db-pg-test' }),
        replicas: [createPgNode({ connectionString: db.replicaUrl })],
      },
    ],
    retry: { attempts: 5, backoff: '1ms' },
    healthInterval: '200ms',
  })
  await shards.onShard(0, (tx) =>
    tx.query('CREATE TABLE oncall (doctor text PRIMARY KEY, on_call boolean NOT NULL)'),
  )
})
afterAll(async () => {
  await shards?.close()
})

/** Ends every backend of this test's primary pool and listener, as a server-side kill would. */
async function terminateOurConnections(): Promise<number> {
  const admin = new pg.Client({ connectionString: primaryUrl })
  await admin.connect()
  try {
    const { rowCount } = await admin.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'concord-db-pg-test' AND pid <> pg_backend_pid()`,
    )
    return rowCount ?? 0
  } finally {
    await admin.end()
  }
}

describe('pg adapter on a real server', () => {
  it('retries a real serialisation failure (write skew) until both transactions commit', async () => {
    await shards.onShard(0, (tx) =>
      tx.query(`INSERT INTO oncall VALUES ('alice', true), ('bob', true) ON CONFLICT DO NOTHING`),
    )
    let attempts = 0
    let arrived = 0
    let release!: () => void
    const bothRead = new Promise<void>((resolve) => {
      release = resolve
    })
    // Each takes one doctor off call if another is still on call: serializable must stop one of them.
    const goOffCall = (doctor: string) =>
      shards.onShard(
        0,
        async (tx) => {
          attempts++
          const { rows } = await tx.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM oncall WHERE on_call',
          )
          if (++arrived === 2) release()
          if (arrived <= 2) await bothRead
          if (rows[0]!.n >= 2) await tx.query('UPDATE oncall SET on_call = false WHERE doctor = $1', [doctor])
          return rows[0]!.n
        },
        { isolation: 'serializable' },
      )
    const results = await Promise.all([goOffCall('alice'), goOffCall('bob')])
    expect(attempts).toBe(3)
    expect(results.map((r) => r.result).sort()).toEqual([1, 2])
    const onCall = await shards.readShard(
      0,
      async (q) =>
        (await q.query<{ n: number }>('SELECT count(*)::int AS n FROM oncall WHERE on_call')).rows[0]!.n,
      { primary: true },
    )
    expect(onCall).toBe(1)
  })

  it('prepares a named statement once per connection, in execute and in transactions; prepare: false turns it off', async () => {
    const preparedOn = async (prepare: boolean) => {
      // One connection, so the statement and the catalog query meet on the same backend.
      const one = createShards({
        shards: [{ primary: createPgNode({ connectionString: primaryUrl, max: 1, prepare }) }],
      })
      try {
        const sql = 'SELECT $1::int + 1 AS n'
        expect((await one.execute(0, { name: 'concord_test_inc', text: sql, values: [1] })).rows).toEqual([
          { n: 2 },
        ])
        const { result } = await one.onShard(0, (tx) =>
          tx.query({ name: 'concord_test_inc', text: sql, values: [2] }),
        )
        expect(result.rows).toEqual([{ n: 3 }])
        const { rows } = await one.execute<{ name: string }>(0, 'SELECT name FROM pg_prepared_statements')
        return rows.map((r) => r.name)
      } finally {
        await one.close()
      }
    }
    expect(await preparedOn(true)).toEqual(['concord_test_inc'])
    expect(await preparedOn(false)).toEqual([])
  })

  it('keeps working after the server terminates its pooled connections', async () => {
    await Promise.all(
      Array.from({ length: 4 }, () => shards.read(0, (q) => q.query('SELECT 1'), { primary: true })),
    )
    expect(await terminateOurConnections()).toBeGreaterThan(0)
    const value = await waitFor(
      async () =>
        (await shards.readShard(0, (q) => q.query<{ n: number }>('SELECT 42 AS n'), { primary: true }))
          .rows[0]!.n,
      { what: 'a read on a fresh connection' },
    )
    expect(value).toBe(42)
  })

  it('re-LISTENs after its listening connection is killed', async () => {
    const got: string[] = []
    const stop = await shards.listen(0, 'db_pg_events', (payload) => got.push(payload))
    try {
      await shards.onShard(0, (tx) => tx.query("SELECT pg_notify('db_pg_events', 'before')"))
      await waitFor(() => got.includes('before'), { what: 'the first notification' })
      expect(await terminateOurConnections()).toBeGreaterThan(0)
      // Notifications sent while it reconnects are lost (a relay polls too); keep sending until one lands.
      let n = 0
      await waitFor(
        async () => {
          await shards.onShard(0, (tx) =>
            tx.query('SELECT pg_notify($1, $2)', ['db_pg_events', `after-${n++}`]),
          )
          return got.some((p) => p.startsWith('after-'))
        },
        { what: 'a notification after the reconnect', intervalMs: 100 },
      )
    } finally {
      await stop()
    }
  })

  it('reports the replica of the shared pair healthy with its lag', async () => {
    const [replica] = await waitFor(async () => {
      const health = await shards.refreshHealth()
      return health[0]?.healthy ? health : null
    })
    expect(replica).toMatchObject({ shard: 0, replica: 0, healthy: true })
    // Measured, not unknown (null): a byte count, and small for a healthy replica of a lightly used pair.
    expect(Number.isSafeInteger(replica!.lagBytes)).toBe(true)
    expect(replica!.lagBytes).toBeLessThan(64 * 1024 * 1024)
    expect(replica!.checkedAt).toBeGreaterThan(Date.now() - 5000)
  })
})
