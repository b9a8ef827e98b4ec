import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BrokerUnavailableError } from '../../src/broker/index.js'
import { createRedisStreamsBroker, type RedisStreamsBroker } from '../../src/redis/index.js'
import { orderEvent, publishRetrying } from '../support/broker-events.js'
import { type RedisServer, startRedis } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

const event = orderEvent

describe('redis streams broker: connection faults', () => {
  let redis: RedisServer
  let broker: RedisStreamsBroker
  beforeAll(async () => {
    redis = await startRedis({ password: 's3cret-pass' })
    broker = createRedisStreamsBroker({
      url: `redis://${redis.host}:${redis.port}`,
      redisOptions: { password: 's3cret-pass' },
      publishTimeout: '500ms',
      blockTime: '500ms',
    })
  })
  afterAll(async () => {
    await broker?.close()
    await redis?.close()
  })

  it('resumes subscriptions after its connections are killed', async () => {
    const seen: number[] = []
    const sub = await broker.subscribe('orders', 'killed', async (e) => void seen.push(e.aggregateVersion))
    await publishRetrying(broker, [event('a', 1)])
    await waitFor(() => seen.length === 1)

    expect(await redis.clientKill()).toBeGreaterThanOrEqual(2)
    await publishRetrying(broker, [event('a', 2), event('a', 3)])
    await waitFor(() => seen.length >= 3, { what: 'events after CLIENT KILL' })
    expect(seen.filter((v, i) => seen.indexOf(v) === i)).toEqual([1, 2, 3])
    expect(sub.stats().errors).toBeGreaterThan(0)
    await sub.close()
  })

  it('rejects publish quickly while Redis is down, never leaks the password, and recovers after a restart', async () => {
    const seen: number[] = []
    const sub = await broker.subscribe('orders', 'restarted', async (e) => void seen.push(e.aggregateVersion))
    await redis.stop()
    await waitFor(() => !broker.health().connected)

    const started = Date.now()
    const failure = await broker.publish('orders', [event('b', 1)]).catch((e: unknown) => e)
    expect(Date.now() - started).toBeLessThan(1_500)
    expect(failure).toBeInstanceOf(BrokerUnavailableError)
    expect((failure as BrokerUnavailableError).code).toBe('E_BROKER_UNAVAILABLE')
    // It names the server it could not reach (and, after a colon, why), so an operator knows where to look.
    expect(String((failure as Error).message)).toContain(`at redis://${redis.host}:${redis.port} unavailable`)
    expect(JSON.stringify({ ...(failure as object), message: String(failure) })).not.toContain('s3cret')
    // The failure is recorded (a message, not undefined), without the credentials.
    const { lastError } = broker.health()
    expect(lastError).toEqual(expect.any(String))
    expect(lastError).not.toContain('s3cret')

    // No persistence: Redis comes back empty; the subscriber makes its group again and goes on.
    await redis.restart()
    await publishRetrying(broker, [event('b', 2)])
    await waitFor(() => seen.includes(2), { timeoutMs: 15_000, what: 'event after restart' })
    expect(broker.health().connected).toBe(true)
    await sub.close()
  })
})
