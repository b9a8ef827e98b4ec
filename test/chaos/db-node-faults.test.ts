import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createShards, type Shards, ShardUnavailableError } from '../../src/db/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { type PostgresServer, startPostgres } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// Stops and kills servers, so it runs on a primary + replica of its own.
let server: PostgresServer
let dbName: string

beforeAll(async () => {
  server = await startPostgres({ replica: true })
  dbName = (await server.createDatabase('db_faults')).name
  const setup = open('1h')
  await setup.onShard(0, (tx) => tx.query('CREATE TABLE item (id int PRIMARY KEY, v int NOT NULL)'))
  await setup.onShard(0, (tx) => tx.query('INSERT INTO item SELECT g, g * 10 FROM generate_series(1, 100) g'))
  await setup.close()
  await server.waitForReplica()
})
afterAll(async () => {
  await server?.close()
})

function open(healthInterval: string): Shards {
  return createShards({
    shards: [
      {
        primary: createPgNode({ connectionString: server.primary.url(dbName), connectTimeout: '1s' }),
        replicas: [createPgNode({ connectionString: server.replica!.url(dbName), connectTimeout: '1s' })],
      },
    ],
    healthInterval,
    healthTimeout: '500ms',
  })
}

const value = (shards: Shards, id: number, opts: { minLsn?: string; primary?: boolean } = {}) =>
  shards.readWithRoute(
    id,
    async (q) => (await q.query<{ v: number }>('SELECT v FROM item WHERE id = $1', [id])).rows[0]?.v,
    opts,
  )

describe('db under node faults', () => {
  it('moves reads to the primary when the replica stops between health checks, and back after it returns', async () => {
    const shards = open('1h')
    try {
      await shards.refreshHealth()
      expect((await value(shards, 1)).route.node).toBe('replica')

      await server.replica!.stop()
      const failed = await value(shards, 1)
      expect(failed).toMatchObject({ result: 10, route: { node: 'primary', reason: 'replica-failed' } })
      expect(shards.health()[0]).toMatchObject({ healthy: false })
      expect(shards.health()[0]!.lastError).toBeTruthy()
      // Skipped now, without another try on the dead replica.
      expect((await value(shards, 2)).route).toMatchObject({ node: 'primary', reason: 'no-replica' })
      const { lsn } = await shards.withTransaction(3, (tx) => tx.query('UPDATE item SET v = 31 WHERE id = 3'))
      expect((await value(shards, 3, { minLsn: lsn })).result).toBe(31)
      const [down] = await shards.refreshHealth()
      expect(down).toMatchObject({ healthy: false })

      await server.replica!.restart()
      await waitFor(async () => (await shards.refreshHealth())[0]!.healthy, {
        what: 'the replica to be healthy',
      })
      const back = await value(shards, 3, { minLsn: lsn })
      expect(back).toMatchObject({ result: 31, route: { node: 'replica', reason: 'replica-caught-up' } })
    } finally {
      await shards.close()
    }
  })

  it('never fails a read while the replica is killed and restarted under load', async () => {
    const shards = open('100ms')
    try {
      await waitFor(() => shards.health()[0]!.healthy, { what: 'a first health check' })
      const nodes = { primary: 0, replica: 0 }
      let stop = false
      const reader = (async () => {
        let id = 0
        while (!stop) {
          id = (id % 100) + 1
          const read = await value(shards, id)
          expect(read.result).toBe(id * 10 + (id === 3 ? 1 : 0))
          nodes[read.route.node]++
        }
      })()
      await waitFor(() => nodes.replica >= 20, { what: 'reads served by the replica' })
      await server.replica!.kill()
      const atKill = { ...nodes }
      await waitFor(() => nodes.primary >= atKill.primary + 20, { what: 'reads served by the primary' })
      const duringOutage = { ...nodes }
      await server.replica!.restart()
      await waitFor(() => shards.health()[0]!.healthy, { what: 'the replica to be healthy again' })
      await waitFor(() => nodes.replica >= duringOutage.replica + 20, { what: 'reads back on the replica' })
      stop = true
      await reader
      expect(duringOutage.primary).toBeGreaterThan(0)
      expect(nodes.replica).toBeGreaterThan(duringOutage.replica)
    } finally {
      await shards.close()
    }
  })

  it('gives ShardUnavailableError when the primary is down, while replicas still serve plain reads', async () => {
    const shards = open('1h')
    try {
      await shards.refreshHealth()
      await server.primary.stop()
      await expect(shards.withTransaction(1, (tx) => tx.query('SELECT 1'))).rejects.toBeInstanceOf(
        ShardUnavailableError,
      )
      await expect(value(shards, 1, { primary: true })).rejects.toMatchObject({ code: 'E_SHARD_UNAVAILABLE' })
      expect(await value(shards, 1)).toMatchObject({ result: 10, route: { node: 'replica' } })

      await server.primary.restart()
      const { lsn } = await waitFor(
        () => shards.withTransaction(4, (tx) => tx.query('UPDATE item SET v = 41 WHERE id = 4')),
        { what: 'writes to work again', intervalMs: 100 },
      )
      expect((await value(shards, 4, { minLsn: lsn })).result).toBe(41)
    } finally {
      await shards.close()
    }
  })
})
