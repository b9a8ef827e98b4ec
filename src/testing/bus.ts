import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import type { BusMember, InvalidationBus, ReceivedMessage } from '../cache/index.js'
import { ClosedError } from '../errors.js'
import { waitFor } from './wait.js'

/** How `runBusContract` makes the bus under test and cleans up. */
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
      // A marker published after b got a's message: the server hands a its messages in order, so an echo of
      // a's own message would reach a before this.
      await b.member.publish({ keys: ['marker'] })
      await waitFor(() => a.received.length > 0, { what: 'the marker at a' })
      expect(a.received.map((m) => m.keys)).toEqual([['marker']])
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
      const [one, two] = [`c-${randomUUID()}`, `c-${randomUUID()}`]
      const a = join(bus, one, 'a')
      const a2 = join(bus, one, 'a2')
      const b = join(bus, two, 'b')
      const b2 = join(bus, two, 'b2')
      const all = [a, a2, b, b2]
      await waitFor(() => all.every((m) => m.member.healthy), { what: 'healthy' })
      await a.member.publish({ keys: ['x'] })
      await waitFor(() => a2.received.length === 1, { what: 'x on its own channel' })
      // Published after x was delivered: b gets its channel's messages in order, so x would come first.
      await b2.member.publish({ keys: ['marker'] })
      await waitFor(() => b.received.length > 0, { what: 'the marker at b' })
      expect(b.received.map((m) => m.keys)).toEqual([['marker']])
      expect(a2.received.map((m) => m.keys)).toEqual([['x']])
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
      const c = join(bus, channel, 'c')
      await waitFor(() => c.member.healthy, { what: 'c healthy' })
      await b.member.close()
      await a.member.publish({ keys: ['y'] })
      // y reached the member still open, and a marker sent after it made the round trip back to a: a closed b
      // that still listened would have had y by then.
      await waitFor(() => c.received.some((m) => m.keys?.[0] === 'y'), { what: 'y at c' })
      await c.member.publish({ keys: ['marker'] })
      await waitFor(() => a.received.some((m) => m.keys?.[0] === 'marker'), { what: 'the marker at a' })
      expect(b.received).toHaveLength(1)
      expect(b.member.healthy).toBe(false)
      await expect(b.member.publish({ keys: ['z'] })).rejects.toBeInstanceOf(ClosedError)
    })
  })
}
