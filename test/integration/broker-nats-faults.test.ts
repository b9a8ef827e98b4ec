import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Broker, BrokerUnavailableError } from '../../src/broker/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { orderEvent, publishRetrying } from '../support/broker-events.js'
import { type NatsServer, startNats } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

const event = orderEvent

describe('nats broker: server faults', () => {
  let nats: NatsServer
  let broker: Broker
  // The server has no auth, so it ignores these; they must still never show up in errors or health.
  const servers = () => nats.url.replace('nats://', 'nats://bob:s3cret-pass@')
  beforeAll(async () => {
    nats = await startNats()
  })
  afterAll(async () => {
    await broker?.close()
    await nats?.close()
  })

  it('starts while the server is down: publish and subscribe fail fast, then work once it is up', async () => {
    await nats.stop()
    broker = createNatsBroker({ servers: servers(), publishTimeout: '500ms', reconnectWait: '100ms' })
    const started = Date.now()
    const failure = await broker.publish('orders', [event('a', 1)]).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(BrokerUnavailableError)
    expect(JSON.stringify({ ...(failure as object), message: String(failure) })).not.toContain('s3cret')
    await expect(broker.subscribe('orders', 'g', async () => {})).rejects.toMatchObject({
      code: 'E_BROKER_UNAVAILABLE',
    })
    expect(Date.now() - started).toBeLessThan(2_500)
    expect(broker.health().connected).toBe(false)
    // The failure is recorded (a message, not undefined), without the credentials of the URL.
    const { lastError } = broker.health()
    expect(lastError).toEqual(expect.any(String))
    expect(lastError).not.toContain('s3cret')

    await nats.restart()
    await waitFor(() => broker.health().connected, { what: 'first connection' })
    const seen: number[] = []
    const sub = await broker.subscribe('orders', 'g', async (e) => void seen.push(e.aggregateVersion))
    await publishRetrying(broker, [event('a', 1), event('a', 2)])
    await waitFor(() => seen.length === 2)
    expect(seen).toEqual([1, 2])
    await sub.close()
  })

  it('keeps what a subscriber held across a server kill, and settles it in order after reconnecting', async () => {
    const seen: string[] = []
    let block = true
    const sub = await broker.subscribe(
      'orders',
      'killed',
      async (e, meta) => {
        if (block && e.aggregateId === 'k') throw new Error('not yet')
        seen.push(`${e.aggregateId}:${e.aggregateVersion}:${meta.deliveryCount}`)
      },
      { backoff: ['200ms'], maxDeliveries: 100 },
    )
    await publishRetrying(broker, [event('k', 1), event('k', 2), event('other', 1)])
    await waitFor(() => seen.some((s) => s.startsWith('other:1')))
    expect(seen.some((s) => s.startsWith('k:'))).toBe(false)

    await nats.kill()
    await waitFor(() => !broker.health().connected)
    await nats.restart()
    await waitFor(() => broker.health().connected, { timeoutMs: 15_000, what: 'reconnect' })
    block = false
    await publishRetrying(broker, [event('k', 3)])
    await waitFor(() => seen.filter((s) => s.startsWith('k:')).length >= 3, { timeoutMs: 15_000 })
    const k = seen.filter((s) => s.startsWith('k:')).map((s) => Number(s.split(':')[1]))
    expect(k.filter((v, i) => k.indexOf(v) === i)).toEqual([1, 2, 3])
    await sub.close()
  })

  it('creates its consumer again when an operator deletes it, and goes on', async () => {
    const seen: number[] = []
    const sub = await broker.subscribe('orders', 'deleted', async (e) => {
      if (e.aggregateId === 'd') seen.push(e.aggregateVersion)
    })
    await publishRetrying(broker, [event('d', 1)])
    await waitFor(() => seen.length === 1)

    const admin = await connect({ servers: nats.url })
    const jsm = await jetstreamManager(admin)
    await jsm.consumers.delete('concord_orders', 'deleted')
    await admin.close()

    await publishRetrying(broker, [event('d', 2)])
    await waitFor(() => seen.includes(2), { timeoutMs: 15_000, what: 'event after the consumer was deleted' })
    expect(sub.stats().errors).toBeGreaterThan(0)
    await sub.close()
  })
})
