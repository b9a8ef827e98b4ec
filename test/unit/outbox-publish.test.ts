import { describe, expect, it, vi } from 'vitest'
import {
  BrokerUnavailableError,
  type EventEnvelope,
  MalformedEventError,
  MessageRejectedError,
} from '../../src/broker/index.js'
import type { ClaimedRow } from '../../src/outbox/claim.js'
import { compareSeq } from '../../src/outbox/claim.js'
import type { OutboxBroker } from '../../src/outbox/ports.js'
import { planRuns, publishRuns } from '../../src/outbox/publish.js'

let seq = 0
const row = (aggregateId: string, v: number, patch: Partial<ClaimedRow> = {}): ClaimedRow => ({
  seq: String(++seq),
  id: `0190d8c5-0000-7000-8000-${String(seq).padStart(12, '0')}`,
  topic: 'product',
  aggregateType: 'product',
  aggregateId,
  aggregateVersion: v,
  type: 't',
  payload: {},
  headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  createdAt: new Date().toISOString(),
  attempts: 0,
  settled: true,
  lsn: '0/1000',
  ...patch,
})

/** A fake of the relay's own broker port: records calls, fails as told. */
function fakeBroker(fail: (events: EventEnvelope[]) => unknown) {
  const stored: EventEnvelope[] = []
  const calls: string[][] = []
  const broker: OutboxBroker = {
    async publish(_topic, events) {
      calls.push(events.map((e) => `${e.aggregateId}${e.aggregateVersion}`))
      const error = fail(events)
      if (error) throw error
      stored.push(...events)
    },
  }
  return { broker, stored, calls }
}

describe('relay planning and publishing', () => {
  it('cuts a run at the first unsettled row, at a topic change, and after an invalid row', () => {
    const rows = [
      row('a', 1),
      row('a', 2),
      row('a', 3, { settled: false }),
      row('a', 4),
      row('b', 1),
      row('b', 2, { topic: 'other' }),
      row('c', 1),
      row('c', 2, { headers: null }),
      row('c', 3),
    ]
    const plan = planRuns(rows, { 'concord-lsn': '0/1' })
    expect(
      plan.runs.map((r) => r.rows.map((x) => `${x.event.aggregateId}${x.event.aggregateVersion}`)),
    ).toEqual([['a1', 'a2'], ['b1'], ['c1']])
    expect(plan.released.map((s) => rows.find((r) => r.seq === s)!.aggregateVersion)).toEqual([3, 4, 2, 3])
    expect(plan.invalid).toHaveLength(1)
    expect(plan.runs[0]!.rows[0]!.event.headers['concord-lsn']).toBe('0/1')
  })

  it('isolates a refused event: its predecessors are published, its successors wait, other runs flow', async () => {
    const rows = [row('a', 1), row('a', 2), row('a', 3), row('b', 1)]
    const poison = rows[1]!.id
    const { broker, stored } = fakeBroker((events) =>
      events.some((e) => e.id === poison) ? new MalformedEventError('too big') : undefined,
    )
    const out = await publishRuns(broker, planRuns(rows, {}).runs)
    expect(stored.map((e) => `${e.aggregateId}${e.aggregateVersion}`).sort()).toEqual(['a1', 'b1'])
    expect(out.failed).toEqual([{ seq: rows[1]!.seq, error: 'E_MALFORMED_EVENT: too big', permanent: true }])
    expect(out.released).toEqual([rows[2]!.seq])
    expect(out.brokerError).toBeUndefined()
  })

  it('fails a rejected event (an attempt, not permanent), releases its successors, publishes the rest in one more call', async () => {
    const rows = [row('a', 1), row('b', 1), row('a', 2), row('c', 1), row('a', 3), row('b', 2)]
    const refused = rows[2]!.id // a2
    const { broker, stored, calls } = fakeBroker((events) =>
      events.some((e) => e.id === refused) ? new MessageRejectedError('fake', refused, 'too big') : undefined,
    )
    const out = await publishRuns(broker, planRuns(rows, {}).runs)
    expect(calls).toHaveLength(2)
    expect(calls[1]!.sort()).toEqual(['a1', 'b1', 'b2', 'c1'])
    expect(stored.map((e) => `${e.aggregateId}${e.aggregateVersion}`).sort()).toEqual([
      'a1',
      'b1',
      'b2',
      'c1',
    ])
    expect(out.failed).toEqual([
      {
        seq: rows[2]!.seq,
        error: `E_MESSAGE_REJECTED: fake broker rejected event ${refused}: too big`,
        permanent: false,
      },
    ])
    expect(out.released).toEqual([rows[4]!.seq])
    expect(out.published.sort(compareSeq)).toEqual([0, 1, 3, 5].map((i) => rows[i]!.seq))
    expect(out.brokerError).toBeUndefined()
  })

  it('treats BrokerUnavailableError as an outage: nothing fails, everything is released', async () => {
    const rows = [row('a', 1), row('b', 1)]
    const { broker } = fakeBroker(() => new BrokerUnavailableError('fake', 'publish'))
    const out = await publishRuns(broker, planRuns(rows, {}).runs)
    expect(out.failed).toEqual([])
    expect(out.released.sort(compareSeq)).toEqual(rows.map((r) => r.seq))
    expect(out.brokerError).toBeInstanceOf(BrokerUnavailableError)
  })

  it('starts no publish after the deadline: the rest of the run is released, nothing failed', async () => {
    // The batch call fails with an unknown error, so each event goes on its own; each takes 30 ms of the
    // (fake) clock.
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      const slow: OutboxBroker = {
        async publish(_topic, events) {
          if (events.length > 1) throw new Error('unknown trouble')
          vi.setSystemTime(Date.now() + 30)
        },
      }
      const rows = [row('d', 1), row('d', 2), row('d', 3), row('d', 4), row('d', 5)]
      const outcome = await publishRuns(slow, planRuns(rows, {}).runs, Date.now() + 45)
      expect(outcome.published).toEqual(rows.slice(0, 2).map((r) => r.seq))
      expect(outcome.released).toEqual(rows.slice(2).map((r) => r.seq))
      expect(outcome.failed).toEqual([])
      const late = await publishRuns(slow, planRuns([row('e', 1)], {}).runs, Date.now())
      expect(late).toMatchObject({ published: [], failed: [], released: [expect.any(String)] })
    } finally {
      vi.useRealTimers()
    }
  })

  it('orders bigint seqs given as strings numerically', () => {
    expect(['10', '9', '100', '11'].sort(compareSeq)).toEqual(['9', '10', '11', '100'])
  })
})
