// A relay process for the multi-process chaos tests: `node --import tsx --conditions=source relay-chaos-child.ts`.
// Runs one relay over the shards in RELAY_PG_URLS (comma-separated, one database per shard) to NATS or Redis
// Streams (RELAY_BROKER), prints `ready`, and runs until it is killed.
//
// With RELAY_KILL_AT=n and RELAY_KILL_POINT set, it SIGKILLs itself in its n-th publish call, at that point:
//   claimed    rows leased, nothing published yet (the lease must run out before anyone publishes them);
//   partial    the first half of the batch acknowledged by the broker, the rest not sent, nothing settled;
//   published  the whole batch acknowledged, the rows not deleted (they are published again: duplicates).
// It prints `killing <point> <events>` first, so the parent knows where each kill landed.

import type { EventEnvelope } from '../../src/broker/index.js'
import { createShards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createRelay, type OutboxBroker } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { createRedisStreamsBroker } from '../../src/redis/index.js'

const env = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`relay-chaos-child: ${name} is not set`)
  return value
}
const say = (line: string) => process.stdout.write(`${line}\n`)

const shards = createShards({
  shards: env('RELAY_PG_URLS')
    .split(',')
    .map((url) => ({ primary: createPgNode({ connectionString: url, max: 3 }) })),
})
const dedupWindow = Number(env('RELAY_DEDUP_MS'))
const publishTimeout = Number(env('RELAY_PUBLISH_TIMEOUT_MS'))
const broker =
  env('RELAY_BROKER') === 'nats'
    ? createNatsBroker({
        servers: env('RELAY_BROKER_URL'),
        prefix: env('RELAY_PREFIX'),
        dedupWindow,
        publishTimeout,
        reconnectWait: 200,
      })
    : createRedisStreamsBroker({
        url: env('RELAY_BROKER_URL'),
        prefix: env('RELAY_PREFIX'),
        dedupWindow,
        publishTimeout,
      })

const killAt = Number(process.env.RELAY_KILL_AT ?? 0)
const killPoint = process.env.RELAY_KILL_POINT ?? ''
let calls = 0
const die = (events: EventEnvelope[]): never => {
  say(`killing ${killPoint} ${events.length}`)
  process.kill(process.pid, 'SIGKILL')
  throw new Error('unreachable: SIGKILL')
}

/** The real broker, with the kill points around its publish. */
const chaosBroker: OutboxBroker = {
  async publish(topic, events) {
    if (killAt === 0 || ++calls !== killAt) return broker.publish(topic, events)
    if (killPoint === 'claimed') die(events)
    if (killPoint === 'partial') {
      await broker.publish(topic, events.slice(0, Math.max(1, Math.floor(events.length / 2))))
      die(events)
    }
    await broker.publish(topic, events)
    return die(events)
  },
}

const relay = createRelay({
  shards,
  broker: chaosBroker,
  id: env('RELAY_ID'),
  lease: Number(env('RELAY_LEASE_MS')),
  pollInterval: 100,
  concurrency: 2,
  // Small claims: a kill then holds few aggregates, and the three relays share the work.
  aggregatesPerClaim: 8,
  eventsPerAggregate: 4,
  onError: (error, shard) => process.stderr.write(`relay ${env('RELAY_ID')} shard ${shard}: ${error}\n`),
})
// Orphaned (the test process died without killing us): go too.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, 'SIGKILL')
}, 500)
await relay.start()
say('ready')
await new Promise<never>(() => {})
