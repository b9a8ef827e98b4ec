import { expect } from 'vitest'
import { seededRandom } from '../../scripts/verify/rng.js'
import type { Broker } from '../../src/broker/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createRedisStreamsBroker } from '../../src/redis/index.js'
import { bundleSupportScript, type SupportChild, spawnSupportChild } from './outbox-spawn.js'
import {
  expectEachEffectOnceInOrder,
  outboxShards,
  startConsumer,
  startWriter,
  waitForDrain,
} from './relay-chaos.js'
import { sharedServices, uniqueName } from './services/index.js'
import { waitFor } from './wait.js'

export type BrokerKind = 'nats' | 'redis-streams'

/** Where a kill lands in the victim's publish call (see relay-chaos-child.ts). */
const KILL_POINTS = ['claimed', 'partial', 'published'] as const

/** Short enough that a killed relay's aggregates come back within the test; twice the publish timeout at least. */
const LEASE_MS = 1_500
const PUBLISH_TIMEOUT_MS = 700
/** Shorter than the lease: a batch published again after a kill is stored again, so the inbox must drop it. */
const DEDUP_MS = 200

/**
 * Three relay processes on the same two shards, one of them SIGKILLed `kills` times (each time at a seeded
 * point of a seeded publish call, and started again), while writers commit events of 40 aggregates. Then the
 * writers stop, the backlog drains, and every committed event must have had its effect exactly once, in order.
 * `CONCORD_CHAOS_DEBUG=1` prints the progress (each victim's start, the drain) with elapsed times.
 */
export async function multiRelayChaos(kind: BrokerKind, { seed, kills }: { seed: number; kills: number }) {
  const services = sharedServices()
  const prefix = uniqueName('mrelay')
  const brokerUrl = kind === 'nats' ? services.nats.url : services.redis.url
  const makeBroker = (): Broker =>
    kind === 'nats'
      ? createNatsBroker({ servers: brokerUrl, prefix, dedupWindow: DEDUP_MS, reconnectWait: 200 })
      : createRedisStreamsBroker({ url: brokerUrl, prefix, dedupWindow: DEDUP_MS, claimInterval: 500 })
  const bundle = await bundleSupportScript('relay-chaos-child.ts')
  const { shards, urls } = await outboxShards(services.postgres, `mrelay_${kind.replace('-', '_')}`, 2)
  const broker = makeBroker()
  const consumer = await startConsumer(broker, services.postgres, `mrelay_${kind.replace('-', '_')}`)
  const children = new Set<SupportChild>()
  const spawnRelay = async (id: string, kill?: { at: number; point: string }) => {
    const relay = await spawnSupportChild(
      bundle.path,
      [],
      {
        RELAY_PG_URLS: urls.join(','),
        RELAY_BROKER: kind,
        RELAY_BROKER_URL: brokerUrl,
        RELAY_PREFIX: prefix,
        RELAY_ID: id,
        RELAY_LEASE_MS: String(LEASE_MS),
        RELAY_PUBLISH_TIMEOUT_MS: String(PUBLISH_TIMEOUT_MS),
        RELAY_DEDUP_MS: String(DEDUP_MS),
        ...(kill ? { RELAY_KILL_AT: String(kill.at), RELAY_KILL_POINT: kill.point } : {}),
      },
      /^ready$/,
      40_000,
    )
    children.add(relay)
    void relay.exited.then(() => children.delete(relay))
    return relay
  }
  const t0 = Date.now()
  const log = (m: string) => {
    if (process.env.CONCORD_CHAOS_DEBUG) process.stderr.write(`[${Date.now() - t0} ms] ${m}\n`)
  }
  const writer = startWriter(shards, { aggregates: 40, seed })
  try {
    await Promise.all([spawnRelay('relay-a'), spawnRelay('relay-b')])
    const random = seededRandom(seed)
    // Each point as often as the others, in a seeded order; the publish call it lands in is seeded too.
    const schedule = Array.from({ length: kills }, (_, i) => ({ r: random(), point: KILL_POINTS[i % 3]! }))
      .sort((a, b) => a.r - b.r)
      .map(({ point }) => ({ point, at: 1 + Math.floor(random() * 3) }))
    const landed: string[] = []
    for (const [i, kill] of schedule.entries()) {
      log(`spawning victim ${i}`)
      const victim = await spawnRelay(`victim-${i}`, kill)
      log(`victim ${i} ready`)
      let exit: unknown
      void victim.exited.then((e) => {
        exit = e
      })
      await waitFor(() => exit, {
        timeoutMs: 20_000,
        what: `victim ${i} to reach its kill point (${kill.point}, publish call ${kill.at})`,
      })
      expect(exit).toEqual({ code: null, signal: 'SIGKILL' })
      landed.push(victim.lines.find((l) => l.startsWith('killing '))!)
    }
    // Every kill landed where it was meant to, with events in hand.
    expect(landed.map((l) => l.split(' ')[1])).toEqual(schedule.map((k) => k.point))
    expect(landed.every((l) => Number(l.split(' ')[2]) > 0)).toBe(true)
    log(`kills done; commits ${writer.commits()}, effects ${await consumer.effects()}`)
    await writer.stop()
    expect(writer.failures()).toBe(0)
    await waitForDrain(shards, consumer, 30_000)
    log('drained')
    const counts = await expectEachEffectOnceInOrder(shards, consumer)
    // Batches published and then not settled were published again: the inbox, not the broker, dropped them.
    expect(counts.duplicates).toBeGreaterThan(0)
    return { ...counts, commits: writer.commits(), kills: landed }
  } finally {
    await writer.stop()
    for (const child of children) child.child.kill('SIGKILL')
    await Promise.all([...children].map((c) => c.killed))
    await consumer.close()
    await broker.close()
    await shards.close()
    bundle.dispose()
  }
}
