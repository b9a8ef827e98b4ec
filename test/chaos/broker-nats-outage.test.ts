import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Broker, BrokerUnavailableError } from '../../src/broker/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { orderEvent } from '../support/broker-events.js'
import { type NatsServer, startNats } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

const event = (key: string, version: number) => orderEvent(key, version, { version })

describe('nats broker: server stopped while publishing', () => {
  let nats: NatsServer
  let broker: Broker
  beforeAll(async () => {
    nats = await startNats()
    broker = createNatsBroker({
      servers: nats.url,
      prefix: 'chaos',
      publishTimeout: '1s',
      reconnectWait: '100ms',
    })
  })
  afterAll(async () => {
    await broker?.close()
    await nats?.close()
  })

  it('loses nothing and keeps per-aggregate order; publish fails fast while down', async () => {
    const keys = ['a', 'b', 'c', 'd']
    const rounds = 60
    const handled = new Map<string, number[]>(keys.map((k) => [k, []]))
    const sub = await broker.subscribe(
      'orders',
      'projection',
      async (e) => {
        handled.get(e.aggregateId)!.push(e.aggregateVersion)
      },
      { concurrency: 4 },
    )

    // The relay's behaviour: publish a batch, and on BrokerUnavailableError back off and retry the same batch.
    const rejections: number[] = []
    const publisher = (async () => {
      for (let round = 1; round <= rounds; round++) {
        const batch = keys.map((k) => event(k, round))
        for (;;) {
          const started = Date.now()
          try {
            await broker.publish('orders', batch)
            break
          } catch (error) {
            expect(error).toBeInstanceOf(BrokerUnavailableError)
            expect((error as BrokerUnavailableError).code).toBe('E_BROKER_UNAVAILABLE')
            rejections.push(Date.now() - started)
            await sleep(100)
          }
        }
        await sleep(50)
      }
    })()

    await waitFor(() => handled.get('a')!.length >= 10, { timeoutMs: 15_000 })
    await nats.stop()
    await waitFor(() => !broker.health().connected, { timeoutMs: 5_000, what: 'disconnected health' })
    await sleep(3_000)
    await nats.restart()
    await publisher

    await waitFor(() => keys.every((k) => new Set(handled.get(k)).size === rounds), {
      timeoutMs: 30_000,
      what: 'every event handled',
    })
    expect(broker.health().connected).toBe(true)
    // The outage was real, and each publish attempt during it failed within the publish timeout (1s) + slack.
    expect(rejections.length).toBeGreaterThan(0)
    expect(Math.max(...rejections)).toBeLessThan(1_500)
    for (const k of keys) {
      const versions = handled.get(k)!
      // At-least-once may repeat an event (a redelivery), but never hands a later version before an earlier one.
      const firsts = versions.filter((v, i) => versions.indexOf(v) === i)
      expect(firsts).toEqual(Array.from({ length: rounds }, (_, i) => i + 1))
      for (let i = 1; i < versions.length; i++) {
        if (versions[i]! < versions[i - 1]!) expect(versions.slice(0, i)).toContain(versions[i])
      }
    }
    await sub.close()
  }, 90_000)
})
