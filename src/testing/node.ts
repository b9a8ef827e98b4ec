import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  compareLsn,
  createShards,
  DbClosedError,
  isLsn,
  MigrationError,
  type NodeAdapter,
  SerializationFailureError,
  type ShardConfig,
  ShardNotFoundError,
  type Shards,
  TransactionRolledBackError,
} from '../db/index.js'
import { InvalidInputError } from '../errors.js'
import { sleep, waitFor } from './wait.js'

/** How `runNodeContract` makes the node adapter under test and cleans up. */
export interface NodeContractOptions {
  /** Names the suite: `db contract: <name>`. */
  name: string
  /** Fresh shard configs: at least two shards, each its own empty database. Called once. */
  create(): Promise<ShardConfig[]>
  /** New adapters over the databases `create` made, as a second process would have. */
  reopen(): Promise<ShardConfig[]>
  /** Runs last: drop what `create` made. */
  cleanup?(): Promise<void>
}

/**
 * What every node adapter must do, as seen through `createShards`: transactions and their LSNs, retries,
 * isolation, routing, NOTIFY, migrations, close. Registers a vitest `describe` block.
 */
export function runNodeContract(options: NodeContractOptions): void {
  const target = {
    makeConfigs: options.create,
    sameDatabases: options.reopen,
    cleanup: options.cleanup,
  }
  describe(`db contract: ${options.name}`, () => {
    let shards: Shards
    const warnings: unknown[] = []

    beforeAll(async () => {
      shards = createShards({
        shards: await target.makeConfigs(),
        retry: { attempts: 3, backoff: '1ms' },
        logger: { warn: (context) => warnings.push(context) },
        healthInterval: '100ms',
      })
      await shards.scatter((q) => q.query('CREATE TABLE kv (k text PRIMARY KEY, v integer NOT NULL)'), {
        primary: true,
      })
    })
    afterAll(async () => {
      await shards?.close()
      await target.cleanup?.()
    })

    const put = (key: string, v: number) =>
      shards.withTransaction(key, (tx) =>
        tx.query('INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = $2', [key, v]),
      )
    const get = async (key: string, opts: { minLsn?: string; primary?: boolean } = { primary: true }) =>
      shards.read(
        key,
        async (q) =>
          (await q.query<{ v: number }>('SELECT v FROM kv WHERE k = $1', [key])).rows[0]?.v ?? null,
        opts,
      )

    it('commits on the key’s shard and returns the commit LSN as a token', async () => {
      const { lsn, result } = await put('commit-1', 7)
      expect(result.rowCount).toBe(1)
      expect(isLsn(lsn)).toBe(true)
      expect(await get('commit-1')).toBe(7)
      const owner = shards.shardFor('commit-1')
      const found = await shards.scatter(
        async (q) => (await q.query('SELECT 1 FROM kv WHERE k = $1', ['commit-1'])).rowCount,
        { primary: true },
      )
      expect(found.map((n, shard) => ((n ?? 0) > 0 ? shard : -1)).filter((s) => s >= 0)).toEqual([owner])
    })

    it('returns LSNs that only grow, and a read at that LSN sees the write', async () => {
      const first = await put('lsn-1', 1)
      const second = await put('lsn-1', 2)
      expect(compareLsn(second.lsn, first.lsn)).toBeGreaterThan(0)
      expect(await get('lsn-1', { minLsn: second.lsn })).toBe(2)
    })

    it('rolls back when fn throws, passes the error through, and skips afterCommit', async () => {
      let ran = false
      const boom = new Error('boom')
      await expect(
        shards.withTransaction('rollback-1', async (tx) => {
          tx.afterCommit(() => {
            ran = true
          })
          await tx.query('INSERT INTO kv (k, v) VALUES ($1, 1)', ['rollback-1'])
          throw boom
        }),
      ).rejects.toBe(boom)
      expect(ran).toBe(false)
      expect(await get('rollback-1')).toBeNull()
    })

    it('runs afterCommit callbacks in order after COMMIT, and swallows their errors', async () => {
      const order: string[] = []
      const before = warnings.length
      let seenLsn = ''
      const { result, lsn } = await shards.withTransaction('after-1', async (tx) => {
        tx.afterCommit(async (commit) => {
          // The commit is visible to another connection by now, and its LSN is known.
          order.push(`a:${await get('after-1')}`)
          seenLsn = commit.lsn
        })
        tx.afterCommit(() => {
          throw new Error('callback failed')
        })
        tx.afterCommit(() => {
          order.push('c')
        })
        await tx.query('INSERT INTO kv (k, v) VALUES ($1, 5)', ['after-1'])
        return 'done'
      })
      expect(result).toBe('done')
      expect(order).toEqual(['a:5', 'c'])
      expect(seenLsn).toBe(lsn)
      expect(warnings.length).toBe(before + 1)
    })

    it('retries a serialisation failure and a deadlock, then succeeds', async () => {
      for (const errcode of ['serialization_failure', 'deadlock_detected']) {
        let attempts = 0
        const { result } = await shards.withTransaction('retry-1', async (tx) => {
          attempts++
          if (attempts < 3) {
            await tx.query(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '${errcode}'; END $$`)
          }
          return attempts
        })
        expect(result).toBe(3)
      }
    })

    it('gives up after the allowed attempts with a typed error', async () => {
      let attempts = 0
      const failing = shards.withTransaction('retry-2', async (tx) => {
        attempts++
        await tx.query(
          `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$`,
        )
      })
      await expect(failing).rejects.toBeInstanceOf(SerializationFailureError)
      await expect(failing).rejects.toMatchObject({
        code: 'E_SERIALIZATION_FAILURE',
        context: { attempts: 3 },
      })
      expect(attempts).toBe(3)
    })

    it('does not retry other database errors', async () => {
      let attempts = 0
      await expect(
        shards.withTransaction('retry-3', async (tx) => {
          attempts++
          await tx.query('SELECT 1/0')
        }),
      ).rejects.toMatchObject({ code: '22012' })
      expect(attempts).toBe(1)
    })

    it('reports a COMMIT that rolled back because a failed statement was swallowed', async () => {
      await expect(
        shards.withTransaction('swallowed-1', async (tx) => {
          await tx.query('INSERT INTO kv (k, v) VALUES ($1, 1)', ['swallowed-1'])
          await tx.query('SELECT 1/0').catch(() => {})
        }),
      ).rejects.toBeInstanceOf(TransactionRolledBackError)
      expect(await get('swallowed-1')).toBeNull()
    })

    it('keeps concurrent transactions on one shard isolated (no lost update)', async () => {
      await put('counter', 0)
      await Promise.all(
        Array.from({ length: 12 }, () =>
          shards.withTransaction('counter', async (tx) => {
            const { rows } = await tx.query<{ v: number }>('SELECT v FROM kv WHERE k = $1 FOR UPDATE', [
              'counter',
            ])
            await sleep(2)
            await tx.query('UPDATE kv SET v = $2 WHERE k = $1', ['counter', rows[0]!.v + 1])
          }),
        ),
      )
      expect(await get('counter')).toBe(12)
    })

    it('runs at the isolation level asked for', async () => {
      for (const isolation of ['read committed', 'repeatable read', 'serializable'] as const) {
        const { result } = await shards.withTransaction(
          'iso',
          async (tx) =>
            (await tx.query<{ level: string }>("SELECT current_setting('transaction_isolation') AS level"))
              .rows[0]!.level,
          { isolation },
        )
        expect(result).toBe(isolation)
      }
      // The level is part of the BEGIN statement's text, so anything else is refused before it reaches SQL.
      await expect(
        shards.withTransaction('iso', async () => 1, { isolation: 'serializable; DROP TABLE x' as never }),
      ).rejects.toMatchObject({ code: 'E_INVALID_INPUT' })
    })

    it('refuses a transaction object used after its transaction ended', async () => {
      const { result: leaked } = await shards.withTransaction('leak-1', async (tx) => tx)
      await expect(leaked.query('SELECT 1')).rejects.toBeInstanceOf(DbClosedError)
    })

    it('spreads keys over every shard and agrees with itself', () => {
      const seen = new Set<number>()
      for (let id = 0; id < 200; id++) {
        const shard = shards.shardFor(id)
        expect(shard).toBe(shards.shardFor(String(id)))
        expect(shard).toBeGreaterThanOrEqual(0)
        expect(shard).toBeLessThan(shards.count)
        seen.add(shard)
      }
      expect(seen.size).toBe(shards.count)
    })

    it('gives typed errors for keys and shards that map nowhere, and for a bad LSN', async () => {
      expect(() => shards.shardFor('')).toThrow(ShardNotFoundError)
      expect(() => shards.shardFor(1.5)).toThrow(ShardNotFoundError)
      await expect(shards.onShard(shards.count, async () => 1)).rejects.toBeInstanceOf(ShardNotFoundError)
      await expect(shards.readShard(-1, async () => 1)).rejects.toMatchObject({ code: 'E_SHARD_NOT_FOUND' })
      await expect(get('x', { minLsn: 'not-an-lsn' })).rejects.toBeInstanceOf(InvalidInputError)
    })

    it('executes one statement on a shard primary in its own transaction', async () => {
      const { rows } = await shards.execute<{ k: string }>(
        1,
        "INSERT INTO kv (k, v) VALUES ('exec', 1) ON CONFLICT (k) DO UPDATE SET v = 1 RETURNING k",
      )
      expect(rows).toEqual([{ k: 'exec' }])
      // Committed on its own: another connection sees it at once.
      const seen = await shards.readShard(
        1,
        (q) => q.query<{ v: number }>("SELECT v FROM kv WHERE k = 'exec'"),
        {
          primary: true,
        },
      )
      expect(seen.rows).toEqual([{ v: 1 }])
      // A failing statement changes nothing and fails with the database's error.
      await expect(shards.execute(1, "UPDATE kv SET v = v / 0 WHERE k = 'exec'")).rejects.toThrow(
        /division by zero/,
      )
      expect((await shards.execute<{ v: number }>(1, "SELECT v FROM kv WHERE k = 'exec'")).rows).toEqual([
        { v: 1 },
      ])
      await expect(shards.execute(shards.count, 'SELECT 1')).rejects.toBeInstanceOf(ShardNotFoundError)
    })

    it('scatters across shards in shard order', async () => {
      const result = await shards.scatter(async (q, shard) => {
        const { rows } = await q.query<{ n: number }>('SELECT $1::int AS n', [shard])
        return rows[0]!.n
      })
      expect(result).toEqual(Array.from({ length: shards.count }, (_, i) => i))
    })

    it('delivers NOTIFY from a committed transaction to a listener, not from a rolled-back one', async () => {
      const got: string[] = []
      const stop = await shards.listen(0, 'concord_test', (payload) => got.push(payload))
      await shards.onShard(0, (tx) => tx.query("SELECT pg_notify('concord_test', $1)", ['one']))
      await shards
        .onShard(0, async (tx) => {
          await tx.query("SELECT pg_notify('concord_test', $1)", ['rolled-back'])
          throw new Error('no')
        })
        .catch(() => {})
      await shards.onShard(0, (tx) => tx.query("SELECT pg_notify('concord_test', $1)", ['two']))
      await waitFor(() => got.length >= 2, { what: 'two notifications' })
      expect(got).toEqual(['one', 'two'])
      await stop()
      // A listener still there hears the next one: the stopped one has had its chance by then.
      const still: string[] = []
      const stopStill = await shards.listen(0, 'concord_test', (payload) => still.push(payload))
      await shards.onShard(0, (tx) => tx.query("SELECT pg_notify('concord_test', $1)", ['three']))
      await waitFor(() => still.includes('three'), { what: 'the notification at the other listener' })
      await stopStill()
      expect(still).toEqual(['three'])
      expect(got).toEqual(['one', 'two'])
    })

    describe('migrations', () => {
      const m1 = {
        module: 'suite',
        version: 1,
        name: 'create t1',
        sql: 'CREATE TABLE mig_t1 (id int PRIMARY KEY);',
      }
      const m2 = {
        module: 'suite',
        version: 2,
        name: 'seed t1',
        sql: 'INSERT INTO mig_t1 VALUES (1); INSERT INTO mig_t1 VALUES (2);',
      }
      const other = { module: 'other', version: 1, name: 'create t2', sql: 'CREATE TABLE mig_t2 (id int)' }

      it('applies each migration once on every shard, also when two processes start at once', async () => {
        const second = createShards({ shards: await target.sameDatabases(), healthInterval: '1h' })
        try {
          // Versions out of order on purpose: a module's migrations apply by version.
          const [a, b] = await Promise.all([shards.migrate([m2, m1, other]), second.migrate([m1, m2, other])])
          for (let shard = 0; shard < shards.count; shard++) {
            const applied = [...a[shard]!.applied, ...b[shard]!.applied].sort()
            expect(applied).toEqual(['other@1', 'suite@1', 'suite@2'])
          }
          expect((await shards.migrate([m1, m2, other])).every((r) => r.applied.length === 0)).toBe(true)
          const counts = await shards.scatter(
            async (q) => (await q.query<{ n: number }>('SELECT count(*)::int AS n FROM mig_t1')).rows[0]!.n,
            { primary: true },
          )
          expect(counts).toEqual(Array(shards.count).fill(2))
        } finally {
          await second.close()
        }
      })

      it('refuses an applied migration whose SQL changed', async () => {
        const changed = { ...m1, sql: 'CREATE TABLE mig_t1 (id bigint PRIMARY KEY);' }
        await expect(shards.migrate([changed])).rejects.toBeInstanceOf(MigrationError)
      })

      it('rolls back the whole run when one migration fails', async () => {
        const good = { module: 'broken', version: 1, name: 'ok', sql: 'CREATE TABLE mig_t3 (id int)' }
        const bad = { module: 'broken', version: 2, name: 'bad', sql: 'CREATE TABLE mig_t3 (id int)' }
        await expect(shards.migrate([good, bad])).rejects.toMatchObject({ code: 'E_MIGRATION' })
        const exists = await shards.scatter(
          async (q) => (await q.query(`SELECT 1 FROM pg_tables WHERE tablename = 'mig_t3'`)).rowCount,
          { primary: true },
        )
        expect(exists).toEqual(Array(shards.count).fill(0))
      })

      it('rejects a malformed or duplicated migration before touching a shard', async () => {
        await expect(shards.migrate([m1, m1])).rejects.toBeInstanceOf(InvalidInputError)
        await expect(shards.migrate([{ ...m1, version: 0 }])).rejects.toBeInstanceOf(InvalidInputError)
      })
    })

    it('fails every call with DbClosedError once closed', async () => {
      const configs = await target.sameDatabases()
      const closing = createShards({ shards: configs, healthInterval: '1h' })
      await closing.read(0, (q) => q.query('SELECT 1'), { primary: true })
      await closing.close()
      await expect(closing.withTransaction(1, async () => 1)).rejects.toBeInstanceOf(DbClosedError)
      await expect(closing.read(1, (q) => q.query('SELECT 1'))).rejects.toMatchObject({ code: 'E_CLOSED' })
      await expect(closing.scatter((q) => q.query('SELECT 1'))).rejects.toBeInstanceOf(DbClosedError)
      const node: NodeAdapter = configs[0]!.primary
      await expect(node.query('SELECT 1')).rejects.toBeInstanceOf(DbClosedError)
    })
  })
}
