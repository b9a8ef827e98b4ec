import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createShards, ShardUnavailableError } from '../../src/db/index.js'
import { createPgNode } from '../../src/pg/index.js'
import {
  type PartitionProxy,
  type PostgresServer,
  startPartitionProxy,
  startPostgres,
} from '../support/services/index.js'

/**
 * A shard's primary blackholed (packets dropped, nothing closed): a server-side statement_timeout cannot fire, so
 * only the client's bounds do. With `queryTimeout` and `connectTimeout` set, every call fails with a typed error
 * within them (pooled connections and new ones alike), nothing hangs; after the heal the shard works again.
 */
const QUERY_TIMEOUT = 500
const CONNECT_TIMEOUT = 500
/** The bound plus slack for timers on a loaded machine. */
const FAIL_BOUND = Math.max(QUERY_TIMEOUT, CONNECT_TIMEOUT) + 1500

let server: PostgresServer
let proxy: PartitionProxy
let dbName: string
beforeAll(async () => {
  server = await startPostgres()
  dbName = (await server.createDatabase('partition')).name
  const url = new URL(server.primary.url(dbName))
  proxy = await startPartitionProxy({ host: url.hostname, port: Number(url.port) })
})
afterAll(async () => {
  await proxy?.close()
  await server?.close()
})

describe('a shard primary behind a partition', () => {
  it('fails pooled and new connections with ShardUnavailableError within the timeouts, and works after the heal', async () => {
    const url = new URL(server.primary.url(dbName))
    url.host = `${proxy.host}:${proxy.port}`
    const shards = createShards({
      shards: [
        {
          primary: createPgNode({
            connectionString: url.toString(),
            max: 2,
            queryTimeout: QUERY_TIMEOUT,
            connectTimeout: CONNECT_TIMEOUT,
          }),
        },
      ],
    })
    try {
      await shards.onShard(0, (tx) => tx.query('CREATE TABLE item (id int PRIMARY KEY, v int NOT NULL)'))
      await shards.withTransaction(1, (tx) => tx.query('INSERT INTO item VALUES (1, 1)'))
      // Two pooled connections, idle and open: the partition catches them mid-session.
      await Promise.all([
        shards.readWithRoute(1, (q) => q.query('SELECT pg_sleep(0.05)'), { primary: true }),
        shards.readWithRoute(1, (q) => q.query('SELECT pg_sleep(0.05)'), { primary: true }),
      ])

      proxy.set('blackhole')
      const failures: { ms: number; error: unknown }[] = []
      for (let i = 0; i < 4; i++) {
        const t0 = performance.now()
        const error = await shards
          .withTransaction(1, (tx) => tx.query('UPDATE item SET v = v + 1 WHERE id = 1'))
          .then(
            () => undefined,
            (e: unknown) => e,
          )
        failures.push({ ms: performance.now() - t0, error })
      }
      for (const { ms, error } of failures) {
        expect(error).toBeInstanceOf(ShardUnavailableError)
        expect((error as ShardUnavailableError).code).toBe('E_SHARD_UNAVAILABLE')
        expect(ms).toBeLessThan(FAIL_BOUND)
      }
      // A read on the primary too (no replica to move to).
      const t0 = performance.now()
      await expect(
        shards.readWithRoute(1, (q) => q.query('SELECT v FROM item WHERE id = 1'), { primary: true }),
      ).rejects.toBeInstanceOf(ShardUnavailableError)
      expect(performance.now() - t0).toBeLessThan(FAIL_BOUND)

      proxy.heal()
      const row = await shards.readWithRoute(
        1,
        async (q) => (await q.query<{ v: number }>('SELECT v FROM item WHERE id = 1')).rows[0]?.v,
        { primary: true },
      )
      // An UPDATE whose COMMIT was held may land after the heal: the value is 1 plus the commits that got through,
      // never more than the attempts.
      expect(row.result).toBeGreaterThanOrEqual(1)
      expect(row.result).toBeLessThanOrEqual(1 + failures.length)
      await shards.withTransaction(1, (tx) => tx.query('UPDATE item SET v = 100 WHERE id = 1'))
      console.log(`partition-pg: failures after ${failures.map((f) => f.ms.toFixed(0)).join(', ')} ms`)
    } finally {
      await shards.close()
    }
  })
})
