import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createShards, type ReadRoute, type Shards } from '../../src/db/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { type PostgresServer, startPostgres } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

// C4 on the database side: pausing replay is a fault, so this file runs on a primary + replica of its own.
let server: PostgresServer
let shards: Shards

beforeAll(async () => {
  server = await startPostgres({ replica: true })
  const db = await server.createDatabase('db_lsn')
  shards = createShards({
    shards: [
      {
        primary: createPgNode({ connectionString: db.primaryUrl }),
        replicas: [createPgNode({ connectionString: db.replicaUrl! })],
      },
    ],
    // Generous bounds: plain reads must keep using the paused replica, to show what it would serve.
    maxLag: { bytes: 1 << 30, seconds: 600 },
    healthInterval: '100ms',
  })
  await shards.onShard(0, (tx) => tx.query('CREATE TABLE product (id int PRIMARY KEY, price int NOT NULL)'))
  await server.waitForReplica()
  await shards.refreshHealth()
})
afterAll(async () => {
  await server?.resumeReplay().catch(() => {})
  await shards?.close()
  await server?.close()
})

const setPrice = (id: number, price: number) =>
  shards.withTransaction(id, (tx) =>
    tx.query(
      'INSERT INTO product (id, price) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET price = EXCLUDED.price',
      [id, price],
    ),
  )
const readPrice = (id: number, minLsn?: string) =>
  shards.readWithRoute(
    id,
    async (q) =>
      (await q.query<{ price: number }>('SELECT price FROM product WHERE id = $1', [id])).rows[0]?.price,
    { minLsn },
  )

describe('LSN-routed reads on a real primary and streaming replica', () => {
  it('reads at the commit LSN from the primary while replay is paused, and from the replica once it replays', async () => {
    const first = await setPrice(1, 100)
    const caughtUp = await waitFor(
      async () => {
        const read = await readPrice(1, first.lsn)
        return read.route.node === 'replica' ? read : null
      },
      { what: 'the replica to replay the first write' },
    )
    expect(caughtUp.result).toBe(100)
    expect(caughtUp.route.reason).toBe('replica-caught-up')

    await server.pauseReplay()
    const second = await setPrice(1, 200)

    // The token's read never sees the replica's old row: it goes to the primary.
    for (let i = 0; i < 5; i++) {
      const read = await readPrice(1, second.lsn)
      expect(read.result).toBe(200)
      expect(read.route).toMatchObject({ node: 'primary', reason: 'replica-behind' })
    }
    // Without the token the replica answers, with the value it has: the old one.
    const plain = await readPrice(1)
    expect(plain.route).toMatchObject({ node: 'replica', reason: 'replica' })
    expect(plain.result).toBe(100)
    // An older token is satisfied by the paused replica.
    expect((await readPrice(1, first.lsn)).route.node).toBe('replica')

    await server.resumeReplay()
    const back = await waitFor(
      async () => {
        const read = await readPrice(1, second.lsn)
        return read.route.node === 'replica' ? read : null
      },
      { what: 'reads at the second LSN to go back to the replica' },
    )
    expect(back.result).toBe(200)
  })

  it('reports lag in bytes and seconds, and skips a replica beyond maxLag', async () => {
    const strict = createShards({
      shards: [
        {
          primary: createPgNode({ connectionString: server.primary.url(await dbName()) }),
          replicas: [createPgNode({ connectionString: server.replica!.url(await dbName()) })],
        },
      ],
      maxLag: { bytes: 1024, seconds: 0.5 },
      healthInterval: '1h',
    })
    try {
      await server.waitForReplica()
      const [healthy] = await strict.refreshHealth()
      expect(healthy).toMatchObject({ shard: 0, replica: 0, healthy: true, lagBytes: 0, lagSeconds: 0 })

      await server.pauseReplay()
      for (let id = 10; id < 60; id++) await setPrice(id, id)
      const [behind] = await strict.refreshHealth()
      expect(behind!.lagBytes).toBeGreaterThan(1024)
      expect(behind!.healthy).toBe(false)
      await sleep(700)
      await setPrice(61, 1)
      const [older] = await strict.refreshHealth()
      expect(older!.lagSeconds).toBeGreaterThanOrEqual(0.6)
      expect(older!.lastError).toMatch(/lagging/)

      const routes: ReadRoute[] = []
      const price = await strict.read(
        10,
        async (q) =>
          (await q.query<{ price: number }>('SELECT price FROM product WHERE id = $1', [10])).rows[0]?.price,
        { onRoute: (route) => routes.push(route) },
      )
      expect(price).toBe(10)
      expect(routes).toMatchObject([{ node: 'primary', reason: 'no-replica' }])

      await server.resumeReplay()
      await server.waitForReplica()
      const [recovered] = await strict.refreshHealth()
      expect(recovered).toMatchObject({ healthy: true, lagBytes: 0, lagSeconds: 0 })
      expect((await strict.readWithRoute(10, (q) => q.query('SELECT 1'))).route.node).toBe('replica')
    } finally {
      await server.resumeReplay()
      await strict.close()
    }
  })
})

async function dbName(): Promise<string> {
  return shards.read(
    0,
    async (q) => (await q.query<{ d: string }>('SELECT current_database() AS d')).rows[0]!.d,
    {
      primary: true,
    },
  )
}
