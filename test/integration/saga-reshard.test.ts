import { createShardMap, createShards, type Shards } from 'concord/db'
import {
  createSagaAdmin,
  createSagaEngine,
  createSqlSagaLog,
  defineSaga,
  type SagaEngine,
  type SagaStep,
  sagaMigrations,
  sagaSqlFromShards,
} from 'concord/saga'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPgNode } from '../../src/pg/index.js'
import { crashableLog } from '../support/saga-chaos.js'
import { sharedServices } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// Sagas are placed by the db's slot map: adding a shard and moving slots (with their rows) leaves every
// saga findable from its id, and a process on the new layout recovers every one left unfinished.

const SAGAS = 40
const fast = { attempts: 3, backoff: 1, maxBackoff: 5, timeout: 5_000 }
let urls: string[] = []
const opened: Shards[] = []
const engines: SagaEngine[] = []

const shardsOver = (count: number, map = createShardMap({ shards: count })) => {
  const shards = createShards({
    shards: urls.slice(0, count).map((url) => ({ primary: createPgNode({ connectionString: url, max: 4 }) })),
    map,
    healthInterval: '1h',
  })
  opened.push(shards)
  return shards
}

beforeAll(async () => {
  const pg = sharedServices().postgres
  urls = (await Promise.all([0, 1, 2].map(() => pg.createDatabase('saga_reshard')))).map((d) => d.primaryUrl)
})
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()))
  await Promise.all(opened.map((s) => s.close()))
})

/** Where each saga's row is: id -> shard index (every shard asked). */
async function rowsByShard(shards: Shards): Promise<Map<string, number[]>> {
  const found = new Map<string, number[]>()
  const perShard = await shards.scatter(
    async (q) => (await q.query<{ id: string }>('SELECT id::text AS id FROM concord_saga')).rows,
    { primary: true },
  )
  perShard.forEach((rows, shard) => {
    for (const { id } of rows) found.set(id, [...(found.get(id) ?? []), shard])
  })
  return found
}

/**
 * Moves sagas to the shard the new map gives them, as a resharding tool moves every table's rows of a moved
 * slot: the saga row with its lease columns, and its history. The history's sequence on the target is moved
 * past the copied entries, so entries appended there sort after them.
 */
async function moveSagas(shards: Shards, from: number, ids: string[]) {
  const target = (id: string) => shards.shardFor(id)
  const byTarget = new Map<number, string[]>()
  for (const id of ids) byTarget.set(target(id), [...(byTarget.get(target(id)) ?? []), id])
  for (const [to, group] of byTarget) {
    const { result } = await shards.onShard(from, async (tx) => ({
      sagas: (
        await tx.query<{ j: unknown }>(
          'SELECT coalesce(json_agg(s), $2::json) AS j FROM concord_saga s WHERE id = ANY($1::uuid[])',
          [group, '[]'],
        )
      ).rows[0]!.j,
      log: (
        await tx.query<{ j: unknown }>(
          'SELECT coalesce(json_agg(l), $2::json) AS j FROM concord_saga_log l WHERE saga_id = ANY($1::uuid[])',
          [group, '[]'],
        )
      ).rows[0]!.j,
    }))
    await shards.onShard(to, async (tx) => {
      await tx.query(
        'INSERT INTO concord_saga SELECT * FROM json_populate_recordset(NULL::concord_saga, $1)',
        [JSON.stringify(result.sagas)],
      )
      await tx.query(
        'INSERT INTO concord_saga_log SELECT * FROM json_populate_recordset(NULL::concord_saga_log, $1)',
        [JSON.stringify(result.log)],
      )
      await tx.query(
        `SELECT setval(pg_get_serial_sequence('concord_saga_log', 'seq'), max(seq)) FROM concord_saga_log`,
      )
    })
    await shards.onShard(from, async (tx) => {
      await tx.query('DELETE FROM concord_saga_log WHERE saga_id = ANY($1::uuid[])', [group])
      await tx.query('DELETE FROM concord_saga WHERE id = ANY($1::uuid[])', [group])
    })
  }
}

describe('saga log placement across a reshard', () => {
  it('adds a shard, moves slots with unfinished sagas, and a new process recovers every one', async () => {
    const calls = new Map<string, string[]>()
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const steps = (blockOnA: boolean): SagaStep[] =>
      ['a', 'b', 'c'].map((name) => ({
        name,
        action: async (ctx) => {
          calls.set(ctx.sagaId, [...(calls.get(ctx.sagaId) ?? []), ctx.idempotencyKey])
          if (blockOnA && name === 'a') await gate
        },
        compensate: () => {},
      }))

    // 1. Two shards; a process starts SAGAS sagas and dies while each is in its first step.
    const before = shardsOver(2)
    await before.migrate([...sagaMigrations])
    const { log, crash } = crashableLog(createSqlSagaLog({ db: sagaSqlFromShards(before) }))
    const dying = createSagaEngine({ log, owner: 'dying', lease: 1_000, action: fast, forward: fast })
    engines.push(dying)
    const orders = dying.register(defineSaga('reshard', steps(true)))
    const ids: string[] = []
    for (let i = 0; i < SAGAS; i++) ids.push((await orders.submit({ i }, { idempotencyKey: `o-${i}` })).id)
    await waitFor(() => ids.every((id) => calls.get(id)?.length === 1), { what: 'every saga in step a' })
    crash()
    release()
    await dying.close()

    const placed = await rowsByShard(before)
    for (const id of ids) expect(placed.get(id)).toEqual([before.shardFor(id)])

    // 2. Reshard: a third shard takes the upper half of each shard's slot range.
    const map = before.map
    const moves: Record<number, number> = {}
    for (let slot = 0; slot < map.slots; slot++) {
      if (slot % (map.slots / 2) >= map.slots / 4) moves[slot] = 2
    }
    const after = shardsOver(3, map.reassign(moves, 3))
    await after.migrate([...sagaMigrations])
    const moved = ids.filter((id) => after.shardFor(id) !== before.shardFor(id))
    expect(moved.length).toBeGreaterThan(0)
    expect(moved.length).toBeLessThan(SAGAS)
    expect(moved.every((id) => after.shardFor(id) === 2)).toBe(true)
    for (const from of [0, 1]) {
      await moveSagas(
        after,
        from,
        moved.filter((id) => before.shardFor(id) === from),
      )
    }
    const admin = createSagaAdmin({ log: createSqlSagaLog({ db: sagaSqlFromShards(after) }) })
    expect((await admin.counts()).RUNNING).toBe(SAGAS)
    for (const id of ids) expect((await admin.get(id))?.status).toBe('RUNNING')

    // 3. A process on the new layout recovers every saga once the dead process's leases end.
    const heir = createSagaEngine({
      log: createSqlSagaLog({ db: sagaSqlFromShards(after) }),
      owner: 'heir',
      lease: 5_000,
      action: fast,
      forward: fast,
    })
    engines.push(heir)
    heir.register(defineSaga('reshard', steps(false)))
    let completed = 0
    await waitFor(
      async () => {
        const summary = await heir.recover()
        expect(summary.interrupted).toBe(0)
        completed += summary.completed
        return completed === SAGAS
      },
      { timeoutMs: 20_000, what: 'every saga recovered' },
    )
    expect(completed).toBe(SAGAS)
    expect(await admin.counts()).toMatchObject({ RUNNING: 0, COMPLETED: SAGAS })
    for (const id of ids) {
      expect(calls.get(id)).toEqual([`${id}:a:action`, `${id}:a:action`, `${id}:b:action`, `${id}:c:action`])
    }
    // Every saga stayed where the map puts it, once, and a moved saga's history reads in order.
    const settled = await rowsByShard(after)
    for (const id of ids) expect(settled.get(id)).toEqual([after.shardFor(id)])
    // The entries written before the move come first: the target's sequence was moved past them.
    expect((await admin.history(moved[0]!)).map((h) => h.event)).toEqual([
      'saga:start',
      'action:start',
      'saga:claimed',
      'action:done',
      'action:start',
      'action:done',
      'action:start',
      'action:done',
      'saga:completed',
    ])
  })
})
