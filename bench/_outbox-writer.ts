// The latency phase's writers, in a worker thread of `npm run bench -- outbox`: the application's transactions
// run on their own event loop, as they would in their own process, so the relay (the main thread) does not
// share its loop with the load generator. Times are absolute (timeOrigin + now), comparable across threads.
import { parentPort, workerData } from 'node:worker_threads'
import { createShards } from 'concord/db'
import { createOutbox } from 'concord/outbox'
import { createPgNode } from 'concord/pg'

export interface WriterInput {
  url: string
  rate: number
  seconds: number
  /** Aggregates `o<first>` .. `o<first + count - 1>`, rows of bench_aggregates. */
  first: number
  count: number
}
export interface WriterReport {
  committed: [id: string, at: number][]
  writeErrors: number
  firstWriteError?: string
  achievedRate: number
  /** First statement to commit of the writers' transactions: a long one holds later commits back (commit-order guard). */
  transactionP99Ms: number
  transactionMaxMs: number
}

const input = workerData as WriterInput
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const shards = createShards({
  shards: [{ primary: createPgNode({ connectionString: input.url, max: 16, connectTimeout: '120s' }) }],
})
const outbox = createOutbox()
const committed: [string, number][] = []
const durations: number[] = []
const inflight = new Set<Promise<void>>()
let writeErrors = 0
let firstWriteError: string | undefined
const total = input.rate * input.seconds
const start = performance.now()
let lastCommit = start
for (let i = 0; i < total; i++) {
  const wait = start + (i * 1000) / input.rate - performance.now()
  if (wait > 1) await sleep(wait)
  const id = `o${input.first + (i % input.count)}`
  let began = 0
  const p = shards
    .withTransaction(id, async (tx) => {
      began = performance.now()
      const { rows } = await tx.query<{ version: number }>(
        'UPDATE bench_aggregates SET version = version + 1 WHERE id = $1 RETURNING version',
        [id],
      )
      return outbox.add(tx, {
        aggregateType: 'order',
        aggregateId: id,
        aggregateVersion: 1_000_000 + rows[0]!.version,
        type: 'order.changed',
        payload: {
          amount: rows[0]!.version * 10,
          note: 'benchmark event of a realistic size, with a few fields',
        },
      })
    })
    .then(({ result }) => {
      lastCommit = performance.now()
      durations.push(lastCommit - began)
      committed.push([result[0]!.id, now()])
    })
    .catch((error) => {
      writeErrors++
      firstWriteError ??= String((error as Error)?.message ?? error)
    })
  inflight.add(p)
  void p.finally(() => inflight.delete(p))
}
await Promise.all(inflight)
await shards.close()
const report: WriterReport = {
  committed,
  writeErrors,
  ...(firstWriteError === undefined ? {} : { firstWriteError }),
  achievedRate: Math.round((total - writeErrors) / ((lastCommit - start) / 1000)),
  transactionP99Ms: durations.sort((a, b) => a - b)[Math.floor(durations.length * 0.99)] ?? 0,
  transactionMaxMs: durations[durations.length - 1] ?? 0,
}
parentPort!.postMessage(report)
