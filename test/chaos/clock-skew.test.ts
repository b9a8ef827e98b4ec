import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

/**
 * Three processes of one cache on the same Redis, their clocks apart: one true, one 30 s ahead and one 30 s
 * behind (libfaketime). Nothing in the consistency path compares clocks across processes (docs/contract.md,
 * "Clock skew"): the verdicts hold - each writer reads its own write (C1), the others drop their copy within
 * the bus bound (C2), no read goes back - and an entry filled by the process ahead, whose envelope says it lives
 * 30 s longer, is gone for the process behind within its TTL of real time (Redis expires it by its own clock).
 */
const TTL = 3000
const SKEWS = ['0', '+30s', '-30s'] as const
const script = 'test/support/skew/cache-instance.ts'

interface Instance {
  skew: string
  child: ChildProcess
  ready: Promise<{ now: number }>
  ask<T>(command: Record<string, unknown>): Promise<T>
}

function startInstance(skew: string, url: string, prefix: string): Instance {
  const node = [
    process.execPath,
    '--import',
    'tsx',
    '--conditions=source',
    script,
    url,
    prefix,
    `i${skew}`,
    String(TTL),
  ]
  const child =
    skew === '0'
      ? spawn(node[0]!, node.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn('faketime', ['-f', skew, ...node], { stdio: ['pipe', 'pipe', 'inherit'] })
  const pending = new Map<number, (reply: Record<string, unknown>) => void>()
  let n = 0
  let markReady: (r: { now: number }) => void = () => {}
  const ready = new Promise<{ now: number }>((resolve) => {
    markReady = resolve
  })
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const reply = JSON.parse(line) as Record<string, unknown> & { n?: number; ready?: boolean; now?: number }
    if (reply.ready) markReady({ now: reply.now! })
    else pending.get(reply.n!)?.(reply)
  })
  return {
    skew,
    child,
    ready,
    ask<T>(command: Record<string, unknown>) {
      const id = ++n
      return new Promise<T>((resolve, reject) => {
        pending.set(id, (reply) => {
          pending.delete(id)
          if (typeof reply.error === 'string') reject(new Error(`${skew}: ${reply.error}`))
          else resolve(reply as T)
        })
        child.stdin!.write(`${JSON.stringify({ n: id, ...command })}\n`)
      })
    },
  }
}

type Stats = {
  stats: { bus: { healthy: boolean; bypasses: number; gaps: number }; loads: number }
  now: number
}
const read = (i: Instance, key: string) => i.ask<{ value: number; local: boolean }>({ op: 'read', key })

let instances: Instance[]
let prefix: string
beforeAll(async () => {
  prefix = `${uniqueName('skew')}:`
  instances = SKEWS.map((skew) => startInstance(skew, sharedServices().redis.url, prefix))
  await Promise.all(instances.map((i) => i.ready))
}, 60_000)
afterAll(async () => {
  await Promise.all(
    (instances ?? []).map(async (i) => {
      await Promise.race([i.ask({ op: 'close' }), new Promise((r) => setTimeout(r, 3000))])
      i.child.kill('SIGKILL')
    }),
  )
})

describe('a cache whose processes disagree on the time by +/- 30 s', () => {
  it('keeps read-your-writes, bounded staleness and monotonic reads, and TTLs in real time', {
    timeout: 60_000,
  }, async () => {
    const [real, ahead, behind] = instances as [Instance, Instance, Instance]
    // The skews are real: the processes' clocks are 30 s apart each way.
    const nows = await Promise.all(instances.map((i) => i.ask<Stats>({ op: 'stats' })))
    expect(Math.abs(nows[1]!.now - nows[0]!.now - 30_000)).toBeLessThan(5000)
    expect(Math.abs(nows[0]!.now - nows[2]!.now - 30_000)).toBeLessThan(5000)
    await waitFor(
      async () =>
        (await Promise.all(instances.map((i) => i.ask<Stats>({ op: 'stats' })))).every(
          (s) => s.stats.bus.healthy,
        ),
      { timeoutMs: 20_000, what: 'every bus healthy' },
    )

    const seen = new Map(instances.map((i) => [i, 0]))
    const check = async (i: Instance, key: string) => {
      const { value } = await read(i, key)
      expect(value, `${i.skew} went back from ${seen.get(i)}`).toBeGreaterThanOrEqual(seen.get(i)!)
      seen.set(i, value)
      return value
    }
    for (const i of instances) expect(await check(i, 'k')).toBe(0)
    for (let v = 1; v <= 9; v++) {
      const writer = instances[v % 3]!
      await writer.ask({ op: 'write', key: 'k', value: v })
      expect(await check(writer, 'k')).toBe(v) // C1
      for (const other of instances) {
        if (other === writer) continue
        // C2: the others drop their copy within the bus bound, whatever their clocks say.
        await waitFor(async () => (await check(other, 'k')) === v, {
          timeoutMs: 3000,
          intervalMs: 20,
          what: `${other.skew} to read v${v} written by ${writer.skew}`,
        })
      }
    }

    // An entry filled by the process ahead carries an expiry 30 s late for the others; changed behind the
    // cache's back (no invalidation), it still leaves the process behind within the TTL of real time.
    await ahead.ask({ op: 'write', key: 'ttl', value: 1 })
    expect((await read(ahead, 'ttl')).value).toBe(1)
    const filledAt = performance.now()
    await real.ask({ op: 'stats' }) // a round trip, so the source write below comes after the fill
    const source = await import('ioredis').then(({ Redis }) => new Redis(sharedServices().redis.url))
    await source.set(`${prefix}src:ttl`, '2')
    source.disconnect()
    await waitFor(async () => (await read(behind, 'ttl')).value === 2, {
      timeoutMs: TTL + 5000,
      intervalMs: 100,
      what: 'the process behind to see the TTL end',
    })
    const goneMs = performance.now() - filledAt
    expect(goneMs).toBeLessThan(TTL + 5000) // not the 63 s the envelope's clock alone would allow
    const stats = await Promise.all(instances.map((i) => i.ask<Stats>({ op: 'stats' })))
    console.log(
      `clock skew: TTL entry gone for the process behind after ${goneMs.toFixed(0)} ms (ttl ${TTL}); ` +
        stats
          .map((s, i) => `${SKEWS[i]}: bypasses ${s.stats.bus.bypasses}, gaps ${s.stats.bus.gaps}`)
          .join('; '),
    )
  })
})
