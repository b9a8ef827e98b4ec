import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import type { BusMember, InvalidationBus, ReceivedMessage } from '../cache/index.js'
import { ClosedError } from '../errors.js'
import { sleep, waitFor } from './wait.js'

export interface BusContractOptions {
  /** Names the suite: `bus contract: <name>`. */
  name: string
  /** A bus, once per test; members connected through it model instances (each test takes its own channel). */
  create(): InvalidationBus
}

/**
 * The invalidation bus contract (C2): every bus (memory, Redis standalone, Redis Cluster, and yours) passes
 * it. Registers a vitest `describe` block.
 */
export function runBusContract({ name, create }: BusContractOptions): void {
  const make = create
  describe(`bus contract: ${name}`, () => {
    const members: BusMember[] = []
    afterEach(async () => {
      await Promise.all(members.splice(0).map((m) => m.close()))
    })

    function join(bus: InvalidationBus, channel: string, instanceId: string) {
      const received: ReceivedMessage[] = []
      const health: boolean[] = []
      const member = bus.connect({
        channel,
        instanceId,
        onMessage: (m) => received.push(m),
        onHealth: (healthy) => health.push(healthy),
      })
      members.push(member)
      return { member, received, health }
    }

    it('members become healthy and deliver to every other member, not the sender', async () => {
      const bus = make()
      const channel = `c-${randomUUID()}`
      const [a, b, c] = ['a', 'b', 'c'].map((id) => join(bus, channel, id)) as [
        ReturnType<typeof join>,
        ReturnType<typeof join>,
        ReturnType<typeof join>,
      ]
      await waitFor(() => a.member.healthy && b.member.healthy && c.member.healthy, { what: 'healthy' })
      expect(b.health.at(-1)).toBe(true)
      await a.member.publish({ keys: ['k1', 'k2'] })
      await waitFor(() => b.received.length === 1 && c.received.length === 1, { what: 'delivery' })
      expect(b.received[0]).toMatchObject({ keys: ['k1', 'k2'], seq: 1 })
      expect(b.received[0]!.from).toContain('a')
      expect(Date.now() - b.received[0]!.sentAt).toBeLessThan(5000)
      await sleep(30)
      expect(a.received).toEqual([])
    })

    it('keeps order and numbers messages without gaps', async () => {
      const bus = make()
      const channel = `c-${randomUUID()}`
      const a = join(bus, channel, 'a')
      const b = join(bus, channel, 'b')
      await waitFor(() => a.member.healthy && b.member.healthy, { what: 'healthy' })
      for (let i = 0; i < 20; i++) await a.member.publish({ keys: [`k${i}`] })
      await waitFor(() => b.received.length === 20, { what: '20 messages' })
      expect(b.received.map((m) => m.keys![0])).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`))
      expect(b.received.map((m) => m.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      expect(b.member.stats().gaps).toBe(0)
    })

    it('batches publishes under load without losing any key, tag or "all"', async () => {
      const bus = make()
      const channel = `c-${randomUUID()}`
      const a = join(bus, channel, 'a')
      const b = join(bus, channel, 'b')
      await waitFor(() => a.member.healthy && b.member.healthy, { what: 'healthy' })
      await Promise.all([
        ...Array.from({ length: 200 }, (_, i) => a.member.publish({ keys: [`k${i}`] })),
        a.member.publish({ tags: ['t1'] }),
      ])
      await waitFor(() => new Set(b.received.flatMap((m) => m.keys ?? [])).size === 200, { what: 'all keys' })
      expect(b.received.some((m) => m.tags?.includes('t1'))).toBe(true)
      const stats = a.member.stats()
      expect(stats.messagesOut).toBe(201)
      expect(stats.batchesOut).toBeLessThan(201)
      await a.member.publish({ all: true })
      await waitFor(() => b.received.some((m) => m.all), { what: 'all' })
    })

    it('isolates channels', async () => {
      const bus = make()
      const a = join(bus, `c-${randomUUID()}`, 'a')
      const b = join(bus, `c-${randomUUID()}`, 'b')
      await waitFor(() => a.member.healthy && b.member.healthy, { what: 'healthy' })
      await a.member.publish({ keys: ['x'] })
      await sleep(50)
      expect(b.received).toEqual([])
    })

    it('reports lag and stops after close', async () => {
      const bus = make()
      const channel = `c-${randomUUID()}`
      const a = join(bus, channel, 'a')
      const b = join(bus, channel, 'b')
      await waitFor(() => a.member.healthy && b.member.healthy, { what: 'healthy' })
      await a.member.publish({ keys: ['x'] })
      await waitFor(() => b.received.length === 1, { what: 'delivery' })
      const lag = b.member.stats().lagMs
      expect(lag.samples).toBeGreaterThan(0)
      expect(lag.p99).toBeLessThan(1000)
      await b.member.close()
      await a.member.publish({ keys: ['y'] })
      await sleep(50)
      expect(b.received).toHaveLength(1)
      expect(b.member.healthy).toBe(false)
      await expect(b.member.publish({ keys: ['z'] })).rejects.toBeInstanceOf(ClosedError)
    })
  })
}
