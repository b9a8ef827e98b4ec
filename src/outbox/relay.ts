import { randomBytes } from 'node:crypto'
import { backoffDelay } from '../backoff.js'
import { type EventEnvelope, orderingKey } from '../broker/kit.js'
import type { Queryable } from '../db/kit.js'
import { ClosedError, InvalidInputError } from '../errors.js'
import { parseOptions } from '../options.js'
import { traced } from '../tracing.js'
import { createOutboxAdmin, type OutboxDeadLetter, type OutboxShardStatus } from './admin.js'
import { claimRows, settleClaim } from './claim.js'
import { planRuns, publishRuns } from './publish.js'
import { type RelayOptions, type ResolvedRelayOptions, relaySchema } from './relay-options.js'
import { OUTBOX_CHANNEL } from './writer.js'

/** Counters since the relay was created. */
export interface RelayStats {
  /** Events the broker acknowledged. */
  published: number
  /** Failed attempts of single events (each parks its aggregate for a backoff). */
  failedAttempts: number
  deadLettered: number
  /** Claims that found the broker unavailable. */
  brokerUnavailable: number
  /** Loop errors (database or broker trouble). */
  loopErrors: number
  /** Claim statements run, and those that found nothing (wasted round trips: a measure of wake-up precision). */
  claims: number
  emptyClaims: number
  lastError?: string
}

/** Drains the outbox of each shard to the broker. */
export interface Relay {
  /** Starts a loop per shard (times `concurrency`). Idempotent. */
  start(): Promise<void>
  /** Stops the loops and waits for the batches in flight to settle. Idempotent. */
  close(): Promise<void>
  /** One claim-publish-settle pass on each shard, without the loops (tests, scripts). Returns events published. */
  runOnce(): Promise<number>
  /** Counters of this relay since it started (published, retried, parked, dead-lettered). */
  stats(): RelayStats
  /** Pending, retrying and dead-lettered counts and the oldest pending age, per shard. */
  status(): Promise<OutboxShardStatus[]>
  /** Dead-lettered events with their last error, oldest first. */
  deadLetters(limit?: number): Promise<OutboxDeadLetter[]>
  /**
   * Makes a dead-lettered event pending with fresh attempts; it is published next, before the later events
   * of its aggregate. @throws DeadLetterNotFoundError
   */
  redrive(id: string): Promise<void>
  /** Drops a dead-lettered event for good, releasing the later events of its aggregate. @throws DeadLetterNotFoundError */
  discard(id: string): Promise<void>
}

/** Creates a relay; see {@link RelayOptions} for the defaults. Nothing runs before `start()` or `runOnce()`. */
export function createRelay(options: RelayOptions): Relay {
  const o: ResolvedRelayOptions = parseOptions('createRelay', relaySchema, options)
  const shardList = o.shardIndexes ?? [...Array(o.shards.count).keys()]
  for (const shard of shardList) {
    if (shard >= o.shards.count) {
      throw new InvalidInputError(`createRelay: no shard ${shard}, there are ${o.shards.count}`, { shard })
    }
  }
  const admin = createOutboxAdmin({ shards: o.shards, shardIndexes: shardList })
  const relayId = o.id ?? `relay-${randomBytes(4).toString('hex')}`
  const stats: RelayStats = {
    published: 0,
    failedAttempts: 0,
    deadLettered: 0,
    brokerUnavailable: 0,
    loopErrors: 0,
    claims: 0,
    emptyClaims: 0,
  }
  const onError =
    o.onError ?? ((error, shard) => console.warn(`concord relay ${relayId} shard ${shard}:`, error))
  let running = false
  let stopped = false
  let loops: Promise<void>[] = []
  let unlisteners: (() => unknown)[] = []
  const wakers = new Map<number, Set<() => void>>(shardList.map((s) => [s, new Set()]))
  const dirty = new Set<number>()
  const brokerFailures = new Map<number, number>()

  /** Shards whose NOTIFYs this relay hears: only there may a loop sleep right after a claim that found rows. */
  const listening = new Set<number>()
  /**
   * A NOTIFY (one per committing transaction) wakes one sleeping loop, which will see the row; with none asleep,
   * `dirty` tells the busy loops to claim again. Waking every loop, or marking dirty as well, sent the other
   * loops after a row one of them had already taken: an empty claim per event at low rates.
   */
  const wake = (shard: number) => {
    for (const w of wakers.get(shard) ?? []) {
      w()
      return
    }
    dirty.add(shard)
  }

  /** Autocommit statements on a shard's primary: claim and settle are one statement each, one round trip. */
  const statements = new Map<number, Queryable>(
    shardList.map((shard) => [
      shard,
      { query: (statement, values) => o.shards.execute(shard, statement, values) },
    ]),
  )

  const analyzedAt = new Map<number, number>()
  /** In the background: a failure (no privilege, say) only costs speed, so it is reported and not retried soon. */
  function refreshStatistics(shard: number): void {
    const now = Date.now()
    if (o.analyzeInterval <= 0 || now - (analyzedAt.get(shard) ?? 0) < o.analyzeInterval) return
    analyzedAt.set(shard, now)
    o.shards.execute(shard, 'ANALYZE concord_outbox').catch((error) => onError(error, shard))
  }

  interface PassResult {
    claimed: number
    brokerDown: boolean
    blocked: boolean
    more: boolean
    /** The settle statement, running: the loop claims once more meanwhile, and awaits it before the claim after. */
    settled: Promise<void>
  }

  /**
   * One claim-publish-settle pass; resolves once the broker answered, with the settle still running. Returns
   * events claimed, and whether more may be claimable at once (`more`): the claim hit one of its limits, rows were
   * cut or released, or rows are held back by the commit-order guard. Throws on database trouble in the claim;
   * `settled` rejects on trouble in the settle (the rows stay leased, and are published again after the lease).
   */
  async function pass(shard: number, previous: Promise<void>): Promise<PassResult> {
    const owner = `${relayId}:${++stats.claims}`
    const claimedAt = Date.now()
    const q = statements.get(shard)!
    const claim = {
      name: 'claim concord_outbox',
      kind: 'client' as const,
      attributes: {
        'db.system.name': 'postgresql',
        'db.operation.name': 'claim',
        'db.collection.name': 'concord_outbox',
        'concord.shard': shard,
        'concord.relay.id': relayId,
      },
    }
    const { rows, blocked } = await traced('relayClaim', claim, async (span) => {
      const claimed = await claimRows(q, {
        aggregates: o.aggregatesPerClaim,
        perAggregate: o.eventsPerAggregate,
        maxRows: o.maxEventsPerClaim,
        leaseMs: o.lease,
        owner,
        commitOrderGuard: o.commitOrderGuard,
      })
      span.set('db.response.returned_rows', claimed.rows.length)
      if (claimed.blocked) span.set('concord.relay.blocked', true)
      return claimed
    })
    if (rows.length === 0) {
      stats.emptyClaims++
      return { claimed: 0, brokerDown: false, blocked, more: false, settled: previous }
    }
    if (rows.length >= o.maxEventsPerClaim) refreshStatistics(shard)
    // The claim read a WAL position at or past each claimed row's commit, so a consumer (the invalidator)
    // that reads a replica at this LSN sees the change.
    const lsn = rows[0]!.lsn
    const plan = planRuns(rows, { 'concord-lsn': lsn, 'concord-shard': String(shard) })
    const outcome = await publishRuns(o.broker, plan.runs, claimedAt + o.lease / 2)
    if ((o.onPublished || o.beforeSettle) && outcome.published.length > 0) {
      const published = new Set(outcome.published)
      const events = plan.runs.flatMap((r) => r.rows.filter((x) => published.has(x.seq)).map((x) => x.event))
      // The broker acknowledged them: this is their publish time, not the settle's (which only deletes the rows).
      o.onPublished?.(events, shard)
      if (o.beforeSettle) await o.beforeSettle(events, shard)
    }
    const brokerDown = outcome.brokerError !== undefined
    const downCount = brokerDown ? (brokerFailures.get(shard) ?? 0) + 1 : 0
    brokerFailures.set(shard, downCount)
    const attempts = new Map(rows.map((r) => [r.seq, r.attempts]))
    const failed = [...plan.invalid.map((f) => ({ ...f, permanent: true })), ...outcome.failed].map((f) => ({
      ...f,
      delayMs: backoffDelay(o.backoff, attempts.get(f.seq)! + 1),
    }))
    stats.published += outcome.published.length
    stats.failedAttempts += failed.length
    if (brokerDown) {
      stats.brokerUnavailable++
      stats.lastError = String((outcome.brokerError as Error)?.message ?? outcome.brokerError)
      // Once per outage and shard: a dead broker is met by every claim (up to one a second), the stats count those.
      if (downCount === 1) onError(outcome.brokerError, shard)
    } else if (failed.length > 0) stats.lastError = failed[failed.length - 1]!.error
    // One settle at a time per loop, in pass order: this one starts once the previous one is done.
    const settled = previous.then(async () => {
      const result = await settleClaim(q, {
        owner,
        published: outcome.published,
        failed,
        released: [...plan.released, ...outcome.released],
        releaseDelayMs: brokerDown ? backoffDelay(o.brokerBackoff, downCount) : 0,
        maxAttempts: o.maxAttempts,
      })
      stats.deadLettered += result.deadLettered
    })
    const more =
      blocked ||
      plan.released.length > 0 ||
      outcome.released.length > 0 ||
      hitLimit(rows, o.aggregatesPerClaim, o.eventsPerAggregate, o.maxEventsPerClaim)
    return { claimed: rows.length, brokerDown, blocked, more, settled }
  }

  async function loop(shard: number): Promise<void> {
    let errors = 0
    let guardWait = 0
    // The previous pass's settle. A failed one is reported here and not passed on: its rows stay leased and
    // are published again once the lease ends (at least once), and the next settle goes ahead.
    let settling: Promise<void> = Promise.resolve()
    const track = (settled: Promise<void>) =>
      settled.catch((error) => {
        stats.loopErrors++
        stats.lastError = String((error as Error)?.message ?? error)
        onError(error, shard)
      })
    while (running) {
      dirty.delete(shard)
      let pause: number
      try {
        const { claimed, brokerDown, blocked, more, settled } = await pass(shard, settling)
        // At most one settle beside a claim: a loop that ran ahead of slow settles would hold published rows
        // past their lease, and they would be claimed and published again.
        await settling
        settling = track(settled)
        errors = 0
        if (brokerDown) pause = backoffDelay(o.brokerBackoff, brokerFailures.get(shard) ?? 1)
        else if (claimed > 0 && (more || dirty.has(shard) || !listening.has(shard))) {
          guardWait = 0
          continue
        } else if (claimed > 0) {
          // A claim that hit none of its limits took everything it could see; what commits later sends a
          // NOTIFY. Claiming again at once would find nothing: an empty claim per pass at low rates.
          guardWait = 0
          pause = o.pollInterval
        } else if (dirty.has(shard)) pause = 0
        else if (blocked) {
          // Rows wait for an older transaction to end: look again in 1, 2, 4 ... ms, up to the poll interval.
          guardWait = Math.min(o.pollInterval, Math.max(1, guardWait * 2))
          pause = guardWait
        } else pause = o.pollInterval
      } catch (error) {
        errors++
        stats.loopErrors++
        stats.lastError = String((error as Error)?.message ?? error)
        onError(error, shard)
        pause = backoffDelay(o.brokerBackoff, errors)
      }
      if (pause > 0 && running) await sleepUnlessWoken(shard, pause, !brokerFailures.get(shard))
    }
    await settling
  }

  /** Waits `ms`, or less if woken (a NOTIFY) when `wakeable`; a broker outage is not shortened by writes. */
  function sleepUnlessWoken(shard: number, ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const set = wakers.get(shard)!
      const done = () => {
        clearTimeout(timer)
        set.delete(done)
        sleepers.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      if (wakeable) set.add(done)
      sleepers.add(done)
    })
  }
  const sleepers = new Set<() => void>()

  return {
    async start() {
      if (stopped) throw new ClosedError('relay')
      if (running) return
      running = true
      if (o.listen) {
        unlisteners = await Promise.all(
          shardList.map(async (shard) => {
            try {
              const unlisten = await o.shards.listen(shard, OUTBOX_CHANNEL, () => wake(shard))
              listening.add(shard)
              return unlisten
            } catch (error) {
              // Polling still works: a missing LISTEN only costs latency.
              onError(error, shard)
              return () => {}
            }
          }),
        )
      }
      loops = shardList.flatMap((shard) => Array.from({ length: o.concurrency }, () => loop(shard)))
    },
    async close() {
      if (stopped) return
      stopped = true
      running = false
      for (const done of [...sleepers]) done()
      await Promise.all(loops)
      await Promise.all(unlisteners.map(async (u) => u()))
    },
    async runOnce() {
      let published = 0
      for (const shard of shardList) {
        const before = stats.published
        await (await pass(shard, Promise.resolve())).settled
        published += stats.published - before
      }
      return published
    },
    stats: () => ({ ...stats }),
    status: () => admin.status(),
    deadLetters: (limit) => admin.deadLetters(limit),
    async redrive(id) {
      wake(await admin.redrive(id))
    },
    async discard(id) {
      wake(await admin.discard(id))
    },
  }
}

export type { EventEnvelope }

/**
 * Whether a claim may have left claimable rows behind by its own limits: as many aggregates as it takes, as many
 * rows as it keeps, or a run as long as the claim allowed it (the claim shortens runs to their share of the rows).
 */
function hitLimit(
  rows: readonly { aggregateType: string; aggregateId: string }[],
  aggregates: number,
  perAggregate: number,
  maxRows: number,
): boolean {
  if (rows.length >= maxRows) return true
  const perRun = new Map<string, number>()
  for (const row of rows) {
    const key = orderingKey(row)
    perRun.set(key, (perRun.get(key) ?? 0) + 1)
  }
  if (perRun.size >= aggregates) return true
  const runLimit = Math.min(perAggregate, Math.max(1, Math.ceil(maxRows / perRun.size)))
  for (const n of perRun.values()) if (n >= runLimit) return true
  return false
}
