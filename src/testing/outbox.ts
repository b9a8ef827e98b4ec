import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type EventEnvelope, MalformedEventError } from '../broker/index.js'
import { compareLsn, type Shards } from '../db/index.js'
import {
  applyIfNewer,
  createInbox,
  createOutbox,
  createOutboxAdmin,
  createRelay,
  DeadLetterNotFoundError,
  outboxMigrations,
  PoisonEventError,
} from '../outbox/index.js'
import { traceIdOf } from '../outbox/kit.js'
import { outOfOrder, recordingBroker } from './outbox-fixtures.js'
import { signal, sleep, waitFor } from './wait.js'

/** How `runOutboxContract` makes the shards under test and cleans up. */
export interface OutboxContractOptions {
  /** Names the suite: `outbox contract: <name>`. */
  name: string
  /** Two shards with nothing in them yet (the suite applies `outboxMigrations`). Called once. */
  createShards(): Promise<Shards>
  /** Can two transactions of one shard be open at once (false for PGlite, which serialises them)? */
  concurrentTransactions: boolean
}

const event = (
  aggregateId: string,
  aggregateVersion: number,
  payload: unknown = { v: aggregateVersion },
) => ({
  aggregateType: 'product',
  aggregateId,
  aggregateVersion,
  type: 'product.updated',
  payload,
})

/**
 * The outbox, relay and inbox contract on a node adapter: every shards backend (PGlite, PostgreSQL, and
 * yours) passes it. Registers a vitest `describe` block.
 */
export function runOutboxContract(target: OutboxContractOptions): void {
  describe(`outbox contract: ${target.name}`, () => {
    let shards: Shards
    const outbox = createOutbox()

    beforeAll(async () => {
      shards = await target.createShards()
      await shards.migrate(outboxMigrations)
    })
    afterAll(async () => {
      await shards?.close()
    })
    beforeEach(async () => {
      for (let i = 0; i < shards.count; i++) {
        await shards.onShard(i, async (tx) => {
          await tx.query('DELETE FROM concord_outbox')
          await tx.query('DELETE FROM concord_inbox')
          await tx.query('DELETE FROM concord_inbox_attempts')
          await tx.query('DELETE FROM concord_inbox_dead_letter')
        })
      }
    })

    it('publishes what committed, with its envelope and trace context, and deletes the rows', async () => {
      const chaos = recordingBroker()
      const relay = createRelay({ shards, broker: chaos.broker, listen: false })
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
      const { result: added, lsn: commitLsn } = await shards.withTransaction('p1', (tx) =>
        outbox.add(tx, [
          { ...event('p1', 1), headers: { traceparent, 'x-tenant': 't1' } },
          event('p1', 2, { nested: { list: [1, 'two', null], nul: 'a\u0000b' } }),
        ]),
      )
      // The commit-order guard holds rows back while any older transaction of the cluster runs (the harness
      // may be creating a database in the background): run passes until both went out.
      let published = 0
      await waitFor(
        async () => {
          published += await relay.runOnce()
          return published >= 2
        },
        { what: 'both events published' },
      )
      expect(published).toBe(2)
      const got = chaos.published.map((p) => p.event)
      expect(got.map((e) => e.id)).toEqual(added.map((e) => e.id))
      expect(chaos.published[0]!.topic).toBe('product')
      expect(got[0]!.headers).toMatchObject({
        traceparent,
        'x-tenant': 't1',
        'concord-shard': String(shards.shardFor('p1')),
      })
      expect(got[0]!.headers['concord-lsn']).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/)
      // A replica that replayed this LSN has the events' transaction (the invalidator reads at it).
      expect(compareLsn(got[0]!.headers['concord-lsn']!, commitLsn)).toBeGreaterThanOrEqual(0)
      expect(traceIdOf(got[1]!.headers.traceparent)).toBeDefined()
      expect(got[1]!.payload).toEqual({ nested: { list: [1, 'two', null], nul: 'a\u0000b' } })
      expect(got[0]!.createdAt).toBe(added[0]!.createdAt)
      expect((await relay.status()).reduce((n, s) => n + s.pending, 0)).toBe(0)
    })

    it('publishes nothing for a rolled-back transaction', async () => {
      const chaos = recordingBroker()
      const relay = createRelay({ shards, broker: chaos.broker, listen: false })
      await expect(
        shards.withTransaction('p1', async (tx) => {
          await outbox.add(tx, event('p1', 1))
          throw new Error('business rule failed')
        }),
      ).rejects.toThrow('business rule failed')
      expect(await relay.runOnce()).toBe(0)
      expect(chaos.published).toHaveLength(0)
    })

    it('rejects a malformed event with a typed error and writes nothing', async () => {
      const { result } = await shards.withTransaction('p1', async (tx) => {
        const bad = [
          { ...event('p1', 1), aggregateVersion: 1.5 },
          { ...event('p1', 1), aggregateId: '' },
          { ...event('p1', 1), payload: undefined },
          { ...event('p1', 1), payload: { big: 1n } },
          { ...event('p1', 1), id: 'not-a-uuid' },
          { ...event('p1', 1), headers: { traceparent: 5 as unknown as string } },
        ]
        const errors = []
        for (const e of bad) errors.push(await outbox.add(tx, [event('p1', 1), e]).catch((error) => error))
        const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM concord_outbox')
        return { errors, n: rows[0]!.n }
      })
      for (const error of result.errors) {
        expect(error).toBeInstanceOf(MalformedEventError)
        expect(error.code).toBe('E_MALFORMED_EVENT')
      }
      expect(result.errors.map((e) => e.context.field)).toEqual([
        'aggregateVersion',
        'aggregateId',
        'payload',
        'payload',
        'id',
        'headers',
      ])
      expect(result.n).toBe(0)
    })

    it('keeps order per aggregate with several relays and concurrent loops', async () => {
      const chaos = recordingBroker()
      const relays = [1, 2, 3].map((i) =>
        createRelay({
          shards,
          broker: chaos.broker,
          id: `r${i}`,
          concurrency: 2,
          aggregatesPerClaim: 3,
          eventsPerAggregate: 2,
          pollInterval: 20,
        }),
      )
      await Promise.all(relays.map((r) => r.start()))
      const aggregates = 12
      const versions = 15
      const writes = []
      for (let v = 1; v <= versions; v++) {
        for (let a = 0; a < aggregates; a++) {
          writes.push(shards.withTransaction(`agg-${a}`, (tx) => outbox.add(tx, event(`agg-${a}`, v))))
        }
        // Versions of one aggregate are written one after the other, as a writer holding the row lock would.
        await Promise.all(writes.splice(0))
      }
      await waitFor(() => new Set(chaos.published.map((p) => p.event.id)).size === aggregates * versions, {
        timeoutMs: 20_000,
        what: 'every event published',
      })
      await Promise.all(relays.map((r) => r.close()))
      expect(outOfOrder(chaos.published.map((p) => p.event))).toEqual([])
      expect(relays.map((r) => r.stats().published).every((n) => n > 0)).toBe(true)
    })

    it('parks only the failing aggregate, dead-letters it with its error, and redrives it', async () => {
      const chaos = recordingBroker()
      const relay = createRelay({ shards, broker: chaos.broker, listen: false, maxAttempts: 3, backoff: [0] })
      const { result: bad } = await shards.withTransaction('bad', (tx) =>
        outbox.add(tx, [event('bad', 1), event('bad', 2), event('bad', 3)]),
      )
      chaos.poison(bad[1]!.id)
      await shards.withTransaction('good', (tx) => outbox.add(tx, [event('good', 1), event('good', 2)]))
      for (let i = 0; i < 5; i++) await relay.runOnce()
      await shards.withTransaction('good', (tx) => outbox.add(tx, event('good', 3)))
      await relay.runOnce()
      // A batch that failed part-way may have stored its first events: republishing them is at-least-once.
      const ids = () => [
        ...new Set(chaos.published.map((p) => `${p.event.aggregateId}@${p.event.aggregateVersion}`)),
      ]
      expect(ids()).toContain('good@3')
      expect(ids().filter((x) => x.startsWith('bad'))).toEqual(['bad@1'])
      const [dead] = await relay.deadLetters()
      expect(dead?.event.id).toBe(bad[1]!.id)
      expect(dead?.attempts).toBe(3)
      expect(dead?.lastError).toContain('payload too large')
      const status = await relay.status()
      expect(status.reduce((n, s) => n + s.deadLetters, 0)).toBe(1)
      expect(status.reduce((n, s) => n + s.pending, 0)).toBe(1) // bad@3 waits behind its dead letter
      expect(relay.stats().deadLettered).toBe(1)

      chaos.cure(bad[1]!.id)
      await relay.redrive(bad[1]!.id)
      await relay.runOnce()
      expect(ids().filter((x) => x.startsWith('bad'))).toEqual(['bad@1', 'bad@2', 'bad@3'])
      await expect(relay.redrive(bad[1]!.id)).rejects.toBeInstanceOf(DeadLetterNotFoundError)
    })

    it('an admin handle with no relay reads status and dead letters, redrives (waking a listening relay) and discards', async () => {
      const chaos = recordingBroker()
      const failing = createRelay({
        shards,
        broker: chaos.broker,
        listen: false,
        maxAttempts: 2,
        backoff: [0],
      })
      const admin = createOutboxAdmin({ shards })
      const deadLetter = async (key: string) => {
        const { result } = await shards.withTransaction(key, (tx) =>
          outbox.add(tx, [event(key, 1), event(key, 2)]),
        )
        chaos.poison(result[0]!.id)
        await waitFor(
          async () => {
            await failing.runOnce()
            return (await admin.deadLetters()).some((d) => d.event.id === result[0]!.id)
          },
          { what: `${key}@1 dead-lettered` },
        )
        return result
      }
      const redriven = await deadLetter('adm1')
      const discarded = await deadLetter('adm2')
      const status = await admin.status()
      expect(status.map((s) => s.shard)).toEqual([...Array(shards.count).keys()])
      expect(status.reduce((n, s) => n + s.deadLetters, 0)).toBe(2)
      expect(status.reduce((n, s) => n + s.pending, 0)).toBe(2) // each @2 waits behind its dead letter
      const dead = await admin.deadLetters()
      expect(dead.map((d) => d.event.id).sort()).toEqual([redriven[0]!.id, discarded[0]!.id].sort())
      expect(dead.every((d) => d.attempts === 2 && d.lastError?.includes('payload too large'))).toBe(true)
      expect(await admin.deadLetters(1)).toHaveLength(1)

      const relay = createRelay({ shards, broker: chaos.broker, pollInterval: 30_000 })
      await relay.start()
      // Each loop's first (empty) claim is done: from here only a NOTIFY wakes it within the 30 s poll.
      await waitFor(() => relay.stats().emptyClaims >= shards.count, { what: 'the first empty claims' })
      chaos.cure(redriven[0]!.id)
      const asked = Date.now()
      expect(await admin.redrive(redriven[0]!.id)).toBe(shards.shardFor('adm1'))
      await waitFor(() => chaos.published.filter((p) => p.event.aggregateId === 'adm1').length === 2, {
        timeoutMs: 5_000,
        what: 'the redriven aggregate published',
      })
      expect(Date.now() - asked).toBeLessThan(2_000)
      expect(await admin.discard(discarded[0]!.id)).toBe(shards.shardFor('adm2'))
      await waitFor(() => chaos.published.some((p) => p.event.id === discarded[1]!.id), {
        timeoutMs: 5_000,
        what: 'the event behind the discarded one published',
      })
      await relay.close()
      expect(chaos.published.map((p) => p.event.id)).not.toContain(discarded[0]!.id)
      expect(await admin.deadLetters()).toEqual([])
      await expect(admin.redrive(redriven[0]!.id)).rejects.toBeInstanceOf(DeadLetterNotFoundError)
      await expect(admin.discard(discarded[0]!.id)).rejects.toBeInstanceOf(DeadLetterNotFoundError)
      await expect(admin.redrive('not-an-id')).rejects.toMatchObject({ code: 'E_DEAD_LETTER_NOT_FOUND' })
      expect(() => createOutboxAdmin({ shards, shardIndexes: [shards.count] })).toThrow(/no shard/)
    })

    it('backs off while the broker is unavailable without counting attempts, then drains everything', async () => {
      const chaos = recordingBroker()
      const errors: { code?: string; shard: number }[] = []
      const relay = createRelay({
        shards,
        broker: chaos.broker,
        maxAttempts: 1,
        pollInterval: 20,
        brokerBackoff: { initial: 20, max: 100, factor: 2, jitter: 0.5 },
        onError: (error, shard) => errors.push({ code: (error as { code?: string }).code, shard }),
      })
      chaos.down(true)
      await relay.start()
      for (let i = 0; i < 20; i++) {
        await shards.withTransaction(`a${i % 4}`, (tx) => outbox.add(tx, event(`a${i % 4}`, i)))
      }
      // Several claims met the broker down (backing off between them), none published or counted an attempt.
      await waitFor(() => relay.stats().brokerUnavailable >= 3, { what: 'three claims with the broker down' })
      expect(chaos.published).toHaveLength(0)
      expect(relay.stats()).toMatchObject({ failedAttempts: 0, deadLettered: 0 })
      // The outage is reported once per shard that met it, not once per claim.
      expect(errors.length).toBeGreaterThan(0)
      expect(errors.every((e) => e.code === 'E_BROKER_UNAVAILABLE')).toBe(true)
      expect(new Set(errors.map((e) => e.shard)).size).toBe(errors.length)
      chaos.down(false)
      await waitFor(() => chaos.published.length === 20, { timeoutMs: 10_000, what: 'backlog drained' })
      await relay.close()
      expect(relay.stats().deadLettered).toBe(0)
      expect(outOfOrder(chaos.published.map((p) => p.event))).toEqual([])
    })

    it('wakes on NOTIFY long before its poll interval', async () => {
      const chaos = recordingBroker()
      const relay = createRelay({ shards, broker: chaos.broker, pollInterval: 30_000 })
      await relay.start()
      // Each loop's first pass found nothing and it went to sleep for the 30 s poll interval.
      await waitFor(() => relay.stats().emptyClaims >= shards.count, { what: 'the first empty passes' })
      const started = Date.now()
      await shards.withTransaction('n1', (tx) => outbox.add(tx, event('n1', 1)))
      await waitFor(() => chaos.published.length === 1, { timeoutMs: 5_000, what: 'notified publish' })
      expect(Date.now() - started).toBeLessThan(2_000)
      await relay.close()
    })

    it('claims once per event at a low rate: a NOTIFY wakes one loop, and a drained claim is not repeated', async () => {
      const chaos = recordingBroker()
      const relay = createRelay({ shards, broker: chaos.broker, concurrency: 2, pollInterval: 30_000 })
      await relay.start()
      // Each of the 2 x shards loops made its first (empty) claim and sleeps for the poll interval.
      await waitFor(() => relay.stats().emptyClaims >= 2 * shards.count, { what: 'the first empty claims' })
      const before = relay.stats()
      // Settled: nothing pending on any shard. The pass that published it has ended by then (the settle is its
      // last statement), so the next NOTIFY finds both loops asleep.
      const settled = async () => (await relay.status()).every((shard) => shard.pending === 0)
      for (let v = 1; v <= 5; v++) {
        await shards.withTransaction('quiet', (tx) => outbox.add(tx, event('quiet', v)))
        await waitFor(() => chaos.published.length === v, { timeoutMs: 5_000, what: `event ${v}` })
        await waitFor(settled, { what: `event ${v} settled` })
      }
      const after = relay.stats()
      await relay.close()
      // Waking both loops, or claiming again after each pass, would add an empty claim per event.
      expect(after.claims - before.claims).toBe(5)
      expect(after.emptyClaims - before.emptyClaims).toBe(0)
    })

    it('polls when it does not listen: a lost notification costs one poll interval', async () => {
      const chaos = recordingBroker()
      const relay = createRelay({ shards, broker: chaos.broker, listen: false, pollInterval: 100 })
      await relay.start()
      await shards.withTransaction('n2', (tx) => outbox.add(tx, event('n2', 1)))
      await waitFor(() => chaos.published.length === 1, { timeoutMs: 3_000, what: 'polled publish' })
      await relay.close()
    })

    it('refreshes the outbox statistics once when claims come back full, and not again within the interval', async () => {
      const analyzed = async () =>
        Number(
          (
            await shards.execute<{ n: string }>(
              0,
              "SELECT coalesce(sum(analyze_count), 0)::text AS n FROM pg_stat_user_tables WHERE relname = 'concord_outbox'",
            )
          ).rows[0]!.n,
        )
      const before = await analyzed()
      await shards.onShard(0, (tx) =>
        outbox.add(
          tx,
          Array.from({ length: 12 }, (_, i) => event(`stat${i}`, 1)),
        ),
      )
      const relay = createRelay({
        shards,
        broker: recordingBroker().broker,
        listen: false,
        shardIndexes: [0],
        maxEventsPerClaim: 4,
        analyzeInterval: '1h',
      })
      let published = 0
      await waitFor(
        async () => {
          published += await relay.runOnce()
          return published === 12
        },
        { what: 'the backlog drained' },
      )
      // Three full claims, one ANALYZE (its count reaches the statistics views within a second or so).
      await waitFor(async () => (await analyzed()) > before, { what: 'ANALYZE counted', timeoutMs: 15_000 })
      // The statistics views lag by up to a second or so (the collector's flush); 3 s is past that: a
      // second ANALYZE from these claims would show by then.
      await sleep(3000)
      expect(await analyzed()).toBe(before + 1)
    })

    it('republishes the rows of a relay that died holding their lease, once the lease ends', async () => {
      // Long enough that the heir's first look comes well inside it on a loaded machine.
      const LEASE = 2000
      const chaos = recordingBroker()
      const dying = createRelay({
        shards,
        broker: chaos.broker,
        listen: false,
        lease: LEASE,
        beforeSettle: () => new Promise(() => {}), // never settles, like a process killed here
      })
      await shards.withTransaction('k1', (tx) => outbox.add(tx, [event('k1', 1), event('k1', 2)]))
      const claimed = Date.now() // at or before the claim: the lease ends no sooner than LEASE after this
      void dying.runOnce()
      await waitFor(() => chaos.published.length === 2, { what: 'first publish' })
      const heir = createRelay({ shards, broker: chaos.broker, listen: false })
      expect(await heir.runOnce()).toBe(0) // still leased
      expect(Date.now() - claimed).toBeLessThan(LEASE) // (so that look was inside the lease)
      let republished = 0
      await waitFor(
        async () => {
          republished += await heir.runOnce()
          return republished > 0
        },
        { timeoutMs: LEASE + 10_000, intervalMs: 50, what: 'the lease to end' },
      )
      expect(republished).toBe(2)
      expect(Date.now() - claimed).toBeGreaterThanOrEqual(LEASE)
      expect(chaos.published.map((p) => p.event.aggregateVersion)).toEqual([1, 2, 1, 2])
    })

    if (target.concurrentTransactions) {
      it('does not publish a later event of an aggregate before an earlier one whose transaction commits later', async () => {
        const chaos = recordingBroker()
        const relay = createRelay({ shards, broker: chaos.broker, listen: false })
        const commitFirst = signal()
        const inserted = signal()
        const first = shards.withTransaction('race', async (tx) => {
          await outbox.add(tx, event('race', 1))
          inserted.fire()
          await commitFirst.promise
        })
        await inserted.promise
        await shards.withTransaction('race', (tx) => outbox.add(tx, event('race', 2)))
        await shards.withTransaction('race', (tx) => outbox.add(tx, event('other', 1)))
        await relay.runOnce()
        expect(chaos.published.filter((p) => p.event.aggregateId === 'race')).toEqual([])
        commitFirst.fire()
        await first
        await relay.runOnce()
        const race = chaos.published
          .filter((p) => p.event.aggregateId === 'race')
          .map((p) => p.event.aggregateVersion)
        expect(race).toEqual([1, 2])
      })
    }

    if (target.concurrentTransactions) {
      it('claims a row the guard held back soon after the older transaction ends, though it sends no NOTIFY', async () => {
        const chaos = recordingBroker()
        const relay = createRelay({ shards, broker: chaos.broker, pollInterval: 30_000 })
        await relay.start()
        const end = signal()
        const begun = signal()
        // An older transaction with an xid that writes no outbox row: its end is announced by nobody.
        const holder = shards.withTransaction('held', async (tx) => {
          await tx.query('SELECT txid_current()')
          begun.fire()
          await end.promise
        })
        await begun.promise
        const looked = relay.stats().claims
        await shards.withTransaction('held', (tx) => outbox.add(tx, event('held', 1)))
        // Woken by the NOTIFY, the relay finds the row held back and looks again, backing off: three looks.
        await waitFor(() => relay.stats().claims >= looked + 3, { what: 'three looks at the held row' })
        expect(chaos.published).toEqual([])
        const ended = Date.now()
        end.fire()
        await holder
        await waitFor(() => chaos.published.length === 1, {
          timeoutMs: 5_000,
          what: 'publish after the guard',
        })
        // The backoff had reached a few hundred ms; the 30 s poll would be the only way without `blocked`.
        expect(Date.now() - ended).toBeLessThan(2_000)
        await relay.close()
      })
    }

    describe('inbox', () => {
      beforeAll(async () => {
        for (let i = 0; i < shards.count; i++) {
          await shards.onShard(i, async (tx) => {
            await tx.query('CREATE TABLE IF NOT EXISTS outbox_test_effects (event_id text, n int)')
            await tx.query(
              'CREATE TABLE IF NOT EXISTS outbox_test_products (id text PRIMARY KEY, version int NOT NULL, name text)',
            )
          })
        }
      })
      const envelope = (aggregateId: string, version: number, payload: unknown = {}): EventEnvelope => ({
        id: crypto.randomUUID(),
        aggregateType: 'product',
        aggregateId,
        aggregateVersion: version,
        type: 'product.updated',
        payload,
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
        createdAt: new Date().toISOString(),
      })
      const effects = async (id: string) => {
        let n = 0
        for (let i = 0; i < shards.count; i++) {
          const { result } = await shards.onShard(i, (tx) =>
            tx.query<{ n: number }>(
              'SELECT count(*)::int AS n FROM outbox_test_effects WHERE event_id = $1',
              [id],
            ),
          )
          n += result.rows[0]!.n
        }
        return n
      }

      it('runs an effect once per consumer, whatever the deliveries', async () => {
        const inbox = createInbox({ shards, consumer: 'c1' })
        const other = createInbox({ shards, consumer: 'c2' })
        const e = envelope('p9', 1)
        const effect = async (
          tx: { query: (s: string, p: unknown[]) => Promise<unknown> },
          ev: EventEnvelope,
        ) => {
          await tx.query('INSERT INTO outbox_test_effects VALUES ($1, 1)', [ev.id])
        }
        const results = target.concurrentTransactions
          ? await Promise.all([inbox.handle(e, effect), inbox.handle(e, effect), inbox.handle(e, effect)])
          : [await inbox.handle(e, effect), await inbox.handle(e, effect), await inbox.handle(e, effect)]
        expect(results.map((r) => r.status).sort()).toEqual(['duplicate', 'duplicate', 'processed'])
        expect((await other.handle(e, effect)).status).toBe('processed')
        expect(await effects(e.id)).toBe(2)
      })

      it('passes a child span of the event trace to the handler', async () => {
        const inbox = createInbox({ shards, consumer: 'trace' })
        const e = envelope('p8', 1)
        const seen: string[] = []
        await inbox.handle(e, async (_tx, _ev, ctx) => {
          seen.push(ctx.traceparent)
        })
        expect(traceIdOf(seen[0])).toBe('0af7651916cd43dd8448eb211c80319c')
        expect(seen[0]).not.toBe(e.headers.traceparent)
      })

      it('retries a failing handler, then dead-letters it and goes on', async () => {
        const inbox = createInbox({ shards, consumer: 'c3', maxAttempts: 3 })
        const e = envelope('p7', 1)
        const failing = async () => {
          throw new Error('downstream said no')
        }
        await expect(inbox.handle(e, failing)).rejects.toThrow('downstream said no')
        await expect(inbox.handle(e, failing)).rejects.toThrow('downstream said no')
        expect(await inbox.handle(e, failing)).toEqual({
          status: 'dead-lettered',
          error: 'downstream said no',
        })
        expect((await inbox.handle(e, failing)).status).toBe('duplicate')
        const [dead] = await inbox.deadLetters()
        expect(dead).toMatchObject({ eventId: e.id, attempts: 3, error: 'downstream said no' })

        const released = await inbox.release(e.id)
        expect((released as EventEnvelope).id).toBe(e.id)
        const ok = await inbox.handle(released, async (_tx, _ev, ctx) => ctx.attempt)
        expect(ok).toMatchObject({ status: 'processed', result: 1 })
      })

      it('counts attempts across calls and clears them on success', async () => {
        const inbox = createInbox({ shards, consumer: 'c4', maxAttempts: 5 })
        const e = envelope('p6', 1)
        let calls = 0
        const flaky = async (_tx: unknown, _ev: unknown, ctx: { attempt: number }) => {
          calls++
          if (calls < 3) throw new Error('flaky')
          return ctx.attempt
        }
        await expect(inbox.handle(e, flaky)).rejects.toThrow('flaky')
        await expect(inbox.handle(e, flaky)).rejects.toThrow('flaky')
        expect(await inbox.handle(e, flaky)).toMatchObject({ status: 'processed', result: 3 })
      })

      it('dead-letters a malformed payload at once with its reason', async () => {
        const inbox = createInbox({ shards, consumer: 'c5' })
        const e = envelope('p5', 1, { price: 'free' })
        const result = await inbox.handle(e, async (_tx, ev) => {
          const price = (ev.payload as { price: unknown }).price
          if (typeof price !== 'number')
            throw new PoisonEventError(`payload.price is not a number: ${String(price)}`)
        })
        expect(result.status).toBe('dead-lettered')
        const notAnEnvelope = await inbox.handle({ id: 'x', aggregateType: 'product' }, async () => {
          throw new Error('never called')
        })
        expect(notAnEnvelope.status).toBe('dead-lettered')
        const dead = await inbox.deadLetters()
        expect(dead.map((d) => d.error)).toEqual([
          expect.stringContaining('payload.price is not a number: free'),
          expect.stringContaining('E_MALFORMED_EVENT'),
        ])
      })

      it('never regresses a projection on a duplicate or reordered event', async () => {
        const inbox = createInbox({ shards, consumer: 'projector' })
        const project = (tx: Parameters<Parameters<typeof inbox.handle>[1]>[0], ev: EventEnvelope) =>
          applyIfNewer(tx, {
            table: 'outbox_test_products',
            key: { id: ev.aggregateId },
            version: ev.aggregateVersion,
            values: { name: (ev.payload as { name: string }).name },
          })
        const v1 = envelope('p4', 1, { name: 'one' })
        const v2 = envelope('p4', 2, { name: 'two' })
        const v3 = envelope('p4', 3, { name: 'three' })
        expect(await inbox.handle(v1, project)).toMatchObject({ result: true })
        expect(await inbox.handle(v3, project)).toMatchObject({ result: true })
        expect(await inbox.handle(v2, project)).toMatchObject({ result: false })
        expect((await inbox.handle(v3, project)).status).toBe('duplicate')
        const { rows } = await shards.read(
          'p4',
          (q) =>
            q.query<{ version: number; name: string }>(
              'SELECT version, name FROM outbox_test_products WHERE id = $1',
              ['p4'],
            ),
          { primary: true },
        )
        expect(rows[0]).toEqual({ version: 3, name: 'three' })
      })
    })
  })
}
