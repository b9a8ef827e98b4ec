import { describe, expect, it } from 'vitest'
import { Batcher } from '../../src/bus/batcher.js'
import type { BusMessage, ReceivedMessage } from '../../src/bus/bus.js'
import { BusMonitor, type WireMessage } from '../../src/bus/monitor.js'
import { sleep } from '../support/wait.js'

function monitor(timeout = 50) {
  const health: string[] = []
  const messages: ReceivedMessage[] = []
  let beats = 0
  const m = new BusMonitor({
    from: 'me/1',
    heartbeatTimeout: timeout,
    onMessage: (msg) => messages.push(msg),
    onHealth: (healthy, reason) => health.push(`${healthy ? 'up' : 'down'}:${reason}`),
    heartbeat: async () => {
      beats++
    },
  })
  const wire = (w: Partial<WireMessage> & { i: string; s: number }) =>
    m.receive(JSON.stringify({ t: Date.now(), ...w }))
  return { m, health, messages, wire, beats: () => beats }
}

describe('bus monitor', () => {
  it('is healthy only after hearing its own heartbeat', () => {
    const { m, health, wire } = monitor()
    m.connected()
    expect(m.healthy).toBe(false)
    wire({ i: 'me/1', s: 0, h: 1 })
    expect(m.healthy).toBe(true)
    expect(health).toEqual(['up:heartbeat echo'])
  })

  it('turns unhealthy when its own heartbeats stop coming back (a deaf subscriber)', async () => {
    const { m, health, wire } = monitor(30)
    m.connected()
    wire({ i: 'me/1', s: 0, h: 1 })
    await sleep(40)
    m.tick()
    expect(m.healthy).toBe(false)
    expect(health.at(-1)).toMatch(/^down:bus silent/)
  })

  it('reports a sequence gap as down then up, and delivers in-order messages', () => {
    const { m, health, messages, wire } = monitor()
    wire({ i: 'me/1', s: 0, h: 1 })
    wire({ i: 'p/1', s: 1, k: ['a'] })
    wire({ i: 'p/1', s: 2, k: ['b'] })
    expect(health).toEqual(['up:heartbeat echo'])
    wire({ i: 'p/1', s: 4, k: ['d'] }) // 3 was lost
    expect(health.slice(1)).toEqual([
      expect.stringMatching(/^down:sequence gap/),
      expect.stringMatching(/^up:/),
    ])
    expect(messages.map((x) => x.keys)).toEqual([['a'], ['b'], ['d']])
    expect(m.stats().gaps).toBe(1)
  })

  it('finds a lost last message through the heartbeat sequence', () => {
    const { health, wire } = monitor()
    wire({ i: 'me/1', s: 0, h: 1 })
    wire({ i: 'p/1', s: 1, k: ['a'] })
    wire({ i: 'p/1', s: 1, h: 1 }) // nothing lost
    expect(health).toHaveLength(1)
    wire({ i: 'p/1', s: 2, h: 1 }) // message 2 never arrived
    expect(health.slice(1, 2)).toEqual([expect.stringMatching(/^down:sequence gap/)])
  })

  it('suspects loss at the first word from a sender that sent before (what came since health is unknown)', () => {
    const { m, health, wire } = monitor()
    wire({ i: 'me/1', s: 0, h: 1 })
    wire({ i: 'new/1', s: 0, h: 1 }) // never sent anything
    wire({ i: 'fresh/1', s: 1, k: ['a'] }) // its first message
    expect(m.stats().gaps).toBe(0)
    // A long-lived sender's first heartbeat since we became healthy: its message 3 may have come and gone.
    wire({ i: 'old/1', s: 3, h: 1 })
    expect(health.slice(1)).toEqual([
      expect.stringMatching(/^down:first contact with old\/1 at sequence 3/),
      expect.stringMatching(/^up:/),
    ])
    wire({ i: 'old/1', s: 4, k: ['b'] }) // known from now on
    wire({ i: 'late/1', s: 5, k: ['c'] }) // first word a message with 4 before it
    expect(m.stats().gaps).toBe(2)
  })

  it('suspects loss when a peer goes silent, but not after its goodbye', async () => {
    const { m, health, wire } = monitor(30)
    wire({ i: 'me/1', s: 0, h: 1 })
    wire({ i: 'p/1', s: 1, k: ['a'] })
    wire({ i: 'q/1', s: 1, k: ['a'] })
    wire({ i: 'q/1', s: 1, x: 1 })
    await sleep(40)
    wire({ i: 'me/1', s: 0, h: 1 })
    m.tick()
    expect(health.filter((h) => h.includes('went silent'))).toEqual([
      'down:peer p/1 went silent',
      'up:peer p/1 went silent',
    ])
  })

  it('stays down when a peer goes silent while it is itself cut off (a partition silences both)', async () => {
    const { m, health, wire } = monitor(30)
    m.connected()
    wire({ i: 'me/1', s: 0, h: 1 })
    wire({ i: 'p/1', s: 0, h: 1 })
    await sleep(40)
    m.tick() // own echo and the peer both silent: one tick finds both
    expect(m.healthy).toBe(false)
    expect(health.slice(1)).toEqual([expect.stringMatching(/^down:bus silent/)])
    wire({ i: 'me/1', s: 1, h: 1 })
    expect(health.slice(1)).toEqual([expect.stringMatching(/^down:bus silent/), 'up:heartbeat echo'])
  })

  it('delivers early copies at once, outside the sequence: reordered with sequenced ones, they cause no gap', () => {
    const { m, health, messages, wire } = monitor()
    wire({ i: 'me/1', s: 0, h: 1 })
    wire({ i: 'p/1', s: 0, u: 1, k: ['a'] }) // a peer's first sign of life: an early copy
    wire({ i: 'p/1', s: 1, k: ['a'] })
    wire({ i: 'p/1', s: 0, u: 1, k: ['c'] }) // the early copy of 3 overtakes 2 (another connection)
    wire({ i: 'p/1', s: 2, k: ['b'] })
    wire({ i: 'p/1', s: 3, k: ['c'] })
    wire({ i: 'p/1', s: 3, h: 1 })
    expect(health).toEqual(['up:heartbeat echo'])
    expect(m.stats().gaps).toBe(0)
    expect(messages.map((x) => [x.keys, x.early ?? false])).toEqual([
      [['a'], true],
      [['a'], false],
      [['c'], true],
      [['b'], false],
      [['c'], false],
    ])
    expect(m.stats()).toMatchObject({ messagesIn: 3, earlyIn: 2 })
  })

  it('still finds a lost sequenced message when its early copy arrived', () => {
    const { health, messages, wire } = monitor()
    wire({ i: 'me/1', s: 0, h: 1 })
    wire({ i: 'p/1', s: 1, k: ['a'] })
    wire({ i: 'p/1', s: 0, u: 1, k: ['b'] })
    wire({ i: 'p/1', s: 3, k: ['c'] }) // 2 (the sequenced copy of b) was lost
    expect(health.slice(1)).toEqual([
      expect.stringMatching(/^down:sequence gap from p\/1: 1 -> 3/),
      expect.stringMatching(/^up:/),
    ])
    expect(messages.map((x) => x.keys)).toEqual([['a'], ['b'], ['c']])
  })

  it('ignores its own early copies (not an echo of its publisher) and any while unhealthy', () => {
    const { m, messages, wire } = monitor()
    m.connected()
    wire({ i: 'p/1', s: 0, u: 1, k: ['a'] }) // not healthy yet: everything is flushed on recovery
    wire({ i: 'me/1', s: 0, u: 1, k: ['b'] })
    expect(m.healthy).toBe(false)
    wire({ i: 'me/1', s: 0, h: 1 })
    wire({ i: 'me/1', s: 0, u: 1, k: ['c'] })
    expect(messages).toEqual([])
    expect(m.stats().earlyIn).toBe(0)
  })

  it('ignores messages that are not its own format', () => {
    const { m, messages } = monitor()
    m.receive('not json')
    m.receive('{"x":1}')
    expect(messages).toEqual([])
  })
})

describe('batcher', () => {
  it('is idle only with nothing in flight or waiting', async () => {
    let release!: () => void
    const batcher = new Batcher(() => new Promise<void>((r) => (release = r)))
    expect(batcher.idle).toBe(true)
    const first = batcher.publish({ keys: ['a'] })
    expect(batcher.idle).toBe(false)
    const second = batcher.publish({ keys: ['b'] })
    release()
    await first
    expect(batcher.idle).toBe(false) // b is being sent
    release()
    await second
    expect(batcher.idle).toBe(true)
  })

  it('sends at once when idle and merges what arrives while a send is in flight', async () => {
    const sent: BusMessage[] = []
    let release!: () => void
    const batcher = new Batcher(async (message) => {
      sent.push(message)
      if (sent.length === 1) await new Promise<void>((r) => (release = r))
    })
    const first = batcher.publish({ keys: ['a'] })
    const rest = [
      batcher.publish({ keys: ['b'] }),
      batcher.publish({ keys: ['c', 'b'] }),
      batcher.publish({ tags: ['t'] }),
    ]
    expect(sent).toEqual([{ keys: ['a'] }])
    release()
    await Promise.all([first, ...rest])
    expect(sent).toEqual([{ keys: ['a'] }, { keys: ['b', 'c'], tags: ['t'] }])
  })

  it('lets "all" absorb the rest and rejects every merged publish when the send fails', async () => {
    let fail = false
    let release!: () => void
    const sent: BusMessage[] = []
    const batcher = new Batcher(async (message) => {
      sent.push(message)
      if (sent.length === 1) await new Promise<void>((r) => (release = r))
      if (fail) throw new Error('down')
    })
    const first = batcher.publish({ keys: ['a'] })
    const merged = [batcher.publish({ keys: ['b'] }), batcher.publish({ all: true })]
    fail = true
    release()
    await expect(first).rejects.toThrow('down')
    for (const p of merged) await expect(p).rejects.toThrow('down')
    expect(sent[1]).toEqual({ all: true })
  })
})
