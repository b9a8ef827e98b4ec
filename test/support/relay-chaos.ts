import { expect } from 'vitest'
import { seededRandom } from '../../scripts/verify/rng.js'
import type { Broker, EventEnvelope, Subscription } from '../../src/broker/index.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createInbox, createOutbox, outboxMigrations } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { outOfOrder } from './outbox-fixtures.js'
import { sleep, waitFor } from './wait.js'

// The pieces of the relay chaos tests: a writer that commits events of many aggregates across shards (and
// records each in its own table, in the same transaction: the ground truth of what committed), a consumer whose
// inbox applies one effect per event, and the check that compares the two.

/** The aggregate type, and so the topic, of every event here. */
export const TOPIC = 'account'

/** Makes `count` databases (one per shard) with the outbox tables and the writer's `writes` table. */
export async function outboxShards(
  pg: { createDatabase(prefix: string): Promise<{ primaryUrl: string }> },
  prefix: string,
  count: number,
): Promise<{ shards: Shards; urls: string[] }> {
  const urls: string[] = []
  for (let i = 0; i < count; i++) urls.push((await pg.createDatabase(`${prefix}${i}`)).primaryUrl)
  const shards = createShards({
    shards: urls.map((url) => ({ primary: createPgNode({ connectionString: url, max: 4 }) })),
  })
  await shards.migrate(outboxMigrations)
  for (let shard = 0; shard < count; shard++) {
    await shards.onShard(shard, (tx) =>
      tx.query(
        `CREATE TABLE writes (aggregate_id text NOT NULL, version int NOT NULL, event_id uuid NOT NULL,
           PRIMARY KEY (aggregate_id, version))`,
      ),
    )
  }
  return { shards, urls }
}

export interface Writer {
  /** Transactions that committed (as their commit answered). */
  commits(): number
  /** Transactions that failed (the database was down, or the commit's answer was lost). */
  failures(): number
  stop(): Promise<void>
}

/**
 * `loops` writers, each owning its share of `aggregates` aggregates, commit 1-3 events of one aggregate per
 * transaction. The next version is read in the transaction from `writes`, so a commit whose answer was lost
 * (the server killed meanwhile) leaves no gap and no repeated version behind.
 */
export function startWriter(
  shards: Shards,
  {
    aggregates,
    loops = 4,
    seed,
    pauseMs = 5,
  }: { aggregates: number; loops?: number; seed: number; pauseMs?: number },
): Writer {
  const outbox = createOutbox()
  let running = true
  let commits = 0
  let failures = 0
  const random = seededRandom(seed)
  const loop = async (w: number) => {
    const owned = Array.from({ length: aggregates }, (_, i) => `acc${i}`).filter((_, i) => i % loops === w)
    while (running) {
      const id = owned[Math.floor(random() * owned.length)]!
      const n = 1 + Math.floor(random() * 3)
      try {
        await shards.withTransaction(id, async (tx) => {
          const { rows } = await tx.query<{ v: number }>(
            'SELECT coalesce(max(version), 0)::int AS v FROM writes WHERE aggregate_id = $1',
            [id],
          )
          const from = rows[0]!.v + 1
          const events = await outbox.add(
            tx,
            Array.from({ length: n }, (_, i) => ({
              aggregateType: TOPIC,
              aggregateId: id,
              aggregateVersion: from + i,
              type: 'account.moved',
              payload: { v: from + i },
            })),
          )
          for (const e of events) {
            await tx.query('INSERT INTO writes VALUES ($1, $2, $3)', [id, e.aggregateVersion, e.id])
          }
        })
        commits++
      } catch {
        // The database is down (a test kills it): counted, and the writer goes on once it is back.
        failures++
        await sleep(100)
      }
      await sleep(pauseMs)
    }
  }
  const done = Promise.all(Array.from({ length: loops }, (_, w) => loop(w)))
  return {
    commits: () => commits,
    failures: () => failures,
    async stop() {
      running = false
      await done
    },
  }
}

export interface Consumer {
  /** Every delivery, in the order the handler got them (duplicates included). */
  deliveries: EventEnvelope[]
  /** Inbox outcomes: processed, duplicate, dead-lettered. */
  statuses: Map<string, number>
  /** The consumer's own database, holding `effects` and its inbox. */
  db: Shards
  /** Effects applied (rows in `effects`). */
  effects(): Promise<number>
  close(): Promise<void>
}

/**
 * A consumer with its own database (another service): its inbox applies each event's effect, one row in
 * `effects` in the order applied, exactly once per event id.
 */
export async function startConsumer(
  broker: Broker,
  pg: { createDatabase(prefix: string): Promise<{ primaryUrl: string }> },
  group: string,
): Promise<Consumer> {
  const { primaryUrl } = await pg.createDatabase(`${group}_consumer`)
  const db = createShards({ shards: [{ primary: createPgNode({ connectionString: primaryUrl, max: 8 }) }] })
  await db.migrate(outboxMigrations)
  await db.onShard(0, (tx) =>
    tx.query(
      `CREATE TABLE effects (n bigserial PRIMARY KEY, event_id uuid NOT NULL, aggregate_id text NOT NULL,
         version int NOT NULL)`,
    ),
  )
  const inbox = createInbox({ shards: db, consumer: group, shardKeyFor: () => 0, maxAttempts: 1_000 })
  const deliveries: EventEnvelope[] = []
  const statuses = new Map<string, number>()
  const sub: Subscription = await broker.subscribe(TOPIC, group, async (event) => {
    deliveries.push(event)
    const r = await inbox.handle(event, async (tx, e) => {
      await tx.query('INSERT INTO effects (event_id, aggregate_id, version) VALUES ($1, $2, $3)', [
        e.id,
        e.aggregateId,
        e.aggregateVersion,
      ])
    })
    statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1)
  })
  return {
    deliveries,
    statuses,
    db,
    async effects() {
      const { rows } = await db.execute<{ n: number }>(0, 'SELECT count(*)::int AS n FROM effects')
      return rows[0]!.n
    },
    async close() {
      await sub.close()
      await db.close()
    },
  }
}

/** Every write committed on the source shards: aggregate, version, event id. */
async function committed(
  shards: Shards,
): Promise<{ aggregate_id: string; version: number; event_id: string }[]> {
  const all = []
  for (let shard = 0; shard < shards.count; shard++) {
    const { rows } = await shards.execute<{ aggregate_id: string; version: number; event_id: string }>(
      shard,
      'SELECT aggregate_id, version, event_id::text FROM writes',
    )
    all.push(...rows)
  }
  return all
}

/** Waits until the consumer applied as many effects as there are committed writes, and the outboxes are empty. */
export async function waitForDrain(shards: Shards, consumer: Consumer, timeoutMs: number): Promise<void> {
  const total = (await committed(shards)).length
  await waitFor(async () => (await consumer.effects()) >= total, {
    timeoutMs,
    intervalMs: 100,
    what: `${total} effects`,
  })
  await waitFor(
    async () => {
      for (let shard = 0; shard < shards.count; shard++) {
        const { rows } = await shards.execute<{ n: number }>(
          shard,
          'SELECT count(*)::int AS n FROM concord_outbox',
        )
        if (rows[0]!.n > 0) return false
      }
      return true
    },
    { timeoutMs: 10_000, intervalMs: 100, what: 'empty outboxes' },
  )
}

/**
 * C5 past the inbox: every committed event has exactly one effect and nothing else has one; per aggregate the
 * effects were applied in version order with no gap (1, 2, 3, ...); the deliveries (duplicates aside) came in
 * version order. Returns the counts for the test's log.
 */
export async function expectEachEffectOnceInOrder(
  shards: Shards,
  consumer: Consumer,
): Promise<{ committed: number; effects: number; deliveries: number; duplicates: number }> {
  const writes = await committed(shards)
  const { rows: effects } = await consumer.db.execute<{
    event_id: string
    aggregate_id: string
    version: number
  }>(0, 'SELECT event_id::text, aggregate_id, version FROM effects ORDER BY n')
  const written = new Set(writes.map((w) => w.event_id))
  const applied = new Map<string, number>()
  for (const e of effects) applied.set(e.event_id, (applied.get(e.event_id) ?? 0) + 1)
  expect(writes.filter((w) => !applied.has(w.event_id)).map((w) => `${w.aggregate_id}@${w.version}`)).toEqual(
    [],
  ) // lost
  expect([...applied].filter(([, n]) => n > 1)).toEqual([]) // applied twice
  expect(effects.filter((e) => !written.has(e.event_id))).toEqual([]) // never committed
  const versions = new Map<string, number[]>()
  for (const e of effects) versions.set(e.aggregate_id, [...(versions.get(e.aggregate_id) ?? []), e.version])
  const misordered = [...versions].filter(([, vs]) => vs.some((v, i) => v !== i + 1))
  expect(misordered).toEqual([])
  expect(outOfOrder(consumer.deliveries)).toEqual([])
  expect(consumer.statuses.get('dead-lettered') ?? 0).toBe(0)
  return {
    committed: writes.length,
    effects: effects.length,
    deliveries: consumer.deliveries.length,
    duplicates: consumer.statuses.get('duplicate') ?? 0,
  }
}
