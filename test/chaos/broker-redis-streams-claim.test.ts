import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { afterAll, describe, expect, it } from 'vitest'
import { createRedisStreamsBroker } from '../../src/redis/index.js'
import { orderEvent } from '../support/broker-events.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { sleep, waitFor } from '../support/wait.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

// A subscriber in its own process whose handler never finishes: it holds (and keeps renewing) whatever it read
// until it is SIGKILLed, like a service instance that dies mid-handling.
const STUCK_CONSUMER = `
import { createRedisStreamsBroker } from './src/redis/index.ts'
const broker = createRedisStreamsBroker({ url: process.env.REDIS_URL, prefix: process.env.KEY_PREFIX })
await broker.subscribe('orders', 'workers', async (e) => {
  console.log('handling ' + e.aggregateId + ':' + e.aggregateVersion)
  await new Promise(() => {})
}, { ackWait: '1s', concurrency: 4 })
console.log('subscribed')
`

const event = orderEvent

describe('redis streams broker: a consumer killed mid-handling', () => {
  const url = sharedServices().redis.url
  const keyPrefix = uniqueName('broker_chaos')
  let child: ChildProcess | undefined
  const broker = createRedisStreamsBroker({ url, prefix: keyPrefix, claimInterval: '200ms' })
  afterAll(async () => {
    child?.kill('SIGKILL')
    await broker.close()
    const admin = new Redis(url)
    const keys = await admin.keys(`${keyPrefix}:*`)
    if (keys.length > 0) await admin.del(...keys)
    await admin.quit()
  })

  it('hands its entries to another consumer through XAUTOCLAIM, in order, counted as redeliveries', async () => {
    const keys = ['a', 'b', 'c', 'd', 'e']
    await broker.publish(
      'orders',
      [1, 2, 3, 4].flatMap((v) => keys.map((k) => event(k, v))),
    )

    child = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', '--input-type=module', '-e', STUCK_CONSUMER],
      {
        cwd: root,
        env: { ...process.env, REDIS_URL: url, KEY_PREFIX: keyPrefix },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let output = ''
    child.stdout!.on('data', (chunk) => {
      output += chunk
    })
    await waitFor(() => (output.match(/handling/g) ?? []).length >= 4, {
      timeoutMs: 20_000,
      what: 'child handling',
    })

    const handled = new Map<string, number[]>(keys.map((k) => [k, []]))
    const counts: number[] = []
    const sub = await broker.subscribe(
      'orders',
      'workers',
      async (e, meta) => {
        handled.get(e.aggregateId)!.push(e.aggregateVersion)
        counts.push(meta.deliveryCount)
      },
      { ackWait: '1s' },
    )
    // While the child lives it renews its hold, so nothing is taken from it even past ackWait.
    await sleep(2_000)
    expect(counts).toHaveLength(0)

    child.kill('SIGKILL')
    await once(child, 'exit')
    await waitFor(() => counts.length >= 20, { timeoutMs: 15_000, what: 'claimed entries handled' })
    for (const k of keys) expect(handled.get(k)).toEqual([1, 2, 3, 4])
    // Every entry had been delivered to the dead consumer once; the claim is the second delivery.
    expect(counts.every((c) => c === 2)).toBe(true)
    await waitFor(() => sub.stats().acked === 20)

    const admin = new Redis(url)
    const [pending] = (await admin.xpending(`${keyPrefix}:{orders}`, 'workers')) as [number]
    await admin.quit()
    expect(pending).toBe(0)
    await sub.close()
  }, 60_000)
})
