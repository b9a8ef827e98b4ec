import type { EventEnvelope } from '../broker/kit.js'
import { BrokerUnavailableError, MalformedEventError, MessageRejectedError } from '../broker/kit.js'
import { ClosedError, TimeoutError } from '../errors.js'
import { traced } from '../tracing.js'
import type { ClaimedRow } from './claim.js'
import type { OutboxBroker } from './ports.js'

/** The next events of one aggregate, to publish in order to one topic. */
export interface Run {
  topic: string
  rows: { seq: string; event: EventEnvelope }[]
}

/** Claimed rows turned into runs; rows cut from a run are released, rows that are no envelope fail for good. */
export interface Plan {
  runs: Run[]
  released: string[]
  invalid: { seq: string; error: string }[]
}

/**
 * Groups claimed rows (in seq order) into one run per aggregate. A run ends before the first row that is not
 * settled (its predecessors may still commit), that goes to another topic (per-topic publishes could not keep
 * cross-topic order), or that follows a row that is not a valid envelope. `extraHeaders` (the claim's LSN)
 * is added to every event.
 */
export function planRuns(rows: ClaimedRow[], extraHeaders: Record<string, string>): Plan {
  const byAggregate = new Map<string, ClaimedRow[]>()
  for (const row of rows) {
    const key = `${row.aggregateType}\u0000${row.aggregateId}`
    const list = byAggregate.get(key)
    if (list) list.push(row)
    else byAggregate.set(key, [row])
  }
  const plan: Plan = { runs: [], released: [], invalid: [] }
  for (const list of byAggregate.values()) {
    const head = list[0]!
    const run: Run = { topic: head.topic, rows: [] }
    let open = true
    for (const row of list) {
      if (!open || !row.settled || row.topic !== run.topic) {
        open = false
        plan.released.push(row.seq)
        continue
      }
      const built = toEnvelope(row, extraHeaders)
      if (typeof built === 'string') {
        // Rows before it are published; it fails (for good) and parks the rest of its aggregate.
        plan.invalid.push({ seq: row.seq, error: built })
        open = false
        continue
      }
      run.rows.push({ seq: row.seq, event: built })
    }
    if (run.rows.length > 0) plan.runs.push(run)
  }
  return plan
}

function toEnvelope(row: ClaimedRow, extraHeaders: Record<string, string>): EventEnvelope | string {
  const headers = row.headers
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    return 'malformed event: headers is not an object'
  }
  const event: EventEnvelope = {
    id: row.id,
    aggregateType: row.aggregateType,
    aggregateId: row.aggregateId,
    aggregateVersion: row.aggregateVersion,
    type: row.type,
    payload: row.payload,
    headers: { ...(headers as Record<string, string>), ...extraHeaders },
    createdAt: row.createdAt,
  }
  // The broker validates the rest (and refuses a bad event with MalformedEventError, which dead-letters it).
  return event
}

/** What happened to each row of a publish attempt. */
export interface PublishOutcome {
  published: string[]
  failed: { seq: string; error: string; permanent: boolean }[]
  /** Not attempted (the broker is unavailable, or an earlier event of the run failed): released. */
  released: string[]
  /** The broker-unavailable error, when there was one. */
  brokerError?: unknown
}

/**
 * Publishes the runs: one `publish` per topic with every run of that topic (fast path). An outage releases
 * everything not yet acknowledged, with no attempt counted. A `MessageRejectedError` names the refused event: it
 * fails (an attempt), the rest of its run is released, and the topic's other runs are published again (the
 * broker drops the duplicates of those it already stored). Any other error makes each run be published event
 * by event to find the one at fault.
 *
 * No publish starts at or after `deadline` (ms since the epoch): what is left is released. The relay sets it well
 * inside its lease, so it never publishes a row another relay may have taken over once the lease ran out.
 */
export async function publishRuns(
  broker: OutboxBroker,
  runs: Run[],
  deadline = Number.POSITIVE_INFINITY,
): Promise<PublishOutcome> {
  const outcome: PublishOutcome = { published: [], failed: [], released: [] }
  const byTopic = new Map<string, Run[]>()
  for (const run of runs) {
    const list = byTopic.get(run.topic)
    if (list) list.push(run)
    else byTopic.set(run.topic, [run])
  }
  await Promise.all(
    [...byTopic].map(([topic, topicRuns]) => publishTopic(broker, topic, topicRuns, outcome, deadline)),
  )
  return outcome
}

async function publishTopic(
  broker: OutboxBroker,
  topic: string,
  runs: Run[],
  outcome: PublishOutcome,
  deadline: number,
) {
  let pending = runs
  while (pending.length > 0) {
    if (Date.now() >= deadline) {
      for (const run of pending) for (const row of run.rows) outcome.released.push(row.seq)
      return
    }
    try {
      await send(
        broker,
        topic,
        pending.flatMap((r) => r.rows.map((x) => x.event)),
      )
      for (const run of pending) for (const row of run.rows) outcome.published.push(row.seq)
      return
    } catch (error) {
      if (isUnavailable(error)) {
        outcome.brokerError ??= error
        for (const run of pending) for (const row of run.rows) outcome.released.push(row.seq)
        return
      }
      const refused = error instanceof MessageRejectedError ? locate(pending, error.eventId) : undefined
      if (!refused) {
        await Promise.all(pending.map((run) => publishOneByOne(broker, run, outcome, deadline)))
        return
      }
      // Each turn removes the refused row, so this ends; the rows before it in its run go again (deduplicated).
      const { run, index } = refused
      outcome.failed.push({ seq: run.rows[index]!.seq, error: describe(error), permanent: false })
      for (const row of run.rows.slice(index + 1)) outcome.released.push(row.seq)
      const before = run.rows.slice(0, index)
      pending = pending.filter((r) => r !== run)
      if (before.length > 0) pending.push({ topic, rows: before })
    }
  }
}

/**
 * One publish as a producer span (`send <topic>`): one event's span continues its trace (the `traceparent` it was
 * written with); a batch's span links to each event's trace instead.
 */
function send(broker: OutboxBroker, topic: string, events: EventEnvelope[]): Promise<void> {
  const traces = events.map((e) => e.headers.traceparent).filter((t): t is string => t !== undefined)
  const init = {
    name: `send ${topic}`,
    kind: 'producer' as const,
    attributes: {
      'messaging.system': broker.system ?? 'concord',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': topic,
      ...(events.length === 1
        ? { 'messaging.message.id': events[0]!.id }
        : { 'messaging.batch.message_count': events.length }),
    },
    parent: events.length === 1 ? traces[0] : undefined,
    links: events.length === 1 ? undefined : traces,
  }
  return traced('relayPublish', init, () => broker.publish(topic, events))
}

function locate(runs: Run[], eventId: string): { run: Run; index: number } | undefined {
  for (const run of runs) {
    const index = run.rows.findIndex((x) => x.event.id === eventId)
    if (index >= 0) return { run, index }
  }
  return undefined
}

async function publishOneByOne(
  broker: OutboxBroker,
  run: Run,
  outcome: PublishOutcome,
  deadline: number,
): Promise<void> {
  let i = 0
  for (; i < run.rows.length; i++) {
    const row = run.rows[i]!
    if (Date.now() >= deadline) {
      outcome.released.push(row.seq)
      break
    }
    try {
      await send(broker, run.topic, [row.event])
      outcome.published.push(row.seq)
    } catch (error) {
      if (isUnavailable(error)) {
        outcome.brokerError ??= error
        outcome.released.push(row.seq)
      } else {
        outcome.failed.push({
          seq: row.seq,
          error: describe(error),
          permanent: error instanceof MalformedEventError,
        })
      }
      break
    }
  }
  for (i++; i < run.rows.length; i++) outcome.released.push(run.rows[i]!.seq)
}

/** The broker did not take the events, but nothing says they are bad: retry the whole batch later. */
export function isUnavailable(error: unknown): boolean {
  return (
    error instanceof BrokerUnavailableError || error instanceof TimeoutError || error instanceof ClosedError
  )
}

/** One line for last_error: code, message, and the cause's message. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const code = (error as { code?: unknown }).code
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : ''
  return `${typeof code === 'string' ? `${code}: ` : ''}${error.message}${cause}`
}
