import { afterEach, describe, expect, it, vi } from 'vitest'
import { createShards, type NodeAdapter, type Queryable, type Shards } from '../../src/db/index.js'
import { formatLsn } from '../../src/db/lsn.js'
import { ShardHealth } from '../../src/db/replica-health.js'

/**
 * A fake node for routing logic only (the adapters themselves are tested on real databases): it answers
 * the health and LSN queries from fields a test sets, and any other query with its own name.
 */
class FakeNode implements NodeAdapter {
  readonly kind = 'fake'
  replay: bigint | null = 0n
  current = 0n
  tsLag: number | null = 0
  failWith: Error | null = null
  served = 0
  lsnChecks = 0
  /** One connection's memo, when the fake pretends to pool a single connection. */
  memo: Map<string, unknown> | undefined
  /** Role detection: in recovery (a replica), the timeline of a primary, where a promotion's replay ended. */
  recovery = false
  timeline = 1
  replayed: bigint | null = null

  constructor(readonly name: string) {}

  query = async <R>(sql: string): Promise<{ rows: R[]; rowCount: number }> => {
    if (this.failWith) throw this.failWith
    let row: Record<string, unknown>
    if (sql.includes('pg_is_in_recovery'))
      row = {
        recovery: this.recovery,
        lsn: formatLsn(this.recovery ? (this.replay ?? 0n) : this.current),
        walfile: this.recovery ? null : `${this.timeline.toString(16).padStart(8, '0')}0000000000000001`,
        replayed: this.replayed === null ? null : formatLsn(this.replayed),
      }
    else if (sql.includes('pg_current_wal_lsn')) row = { lsn: formatLsn(this.current) }
    else if (sql.includes('pg_last_xact_replay_timestamp'))
      row = { replay: this.replay === null ? null : formatLsn(this.replay), ts_lag: this.tsLag }
    else if (sql.includes('pg_last_wal_replay_lsn')) {
      this.lsnChecks++
      row = { lsn: this.replay === null ? null : formatLsn(this.replay) }
    } else {
      this.served++
      row = { node: this.name }
    }
    return { rows: [row as R], rowCount: 1 }
  }
  session = async <T>(fn: (s: Queryable & { exec(s: string): Promise<void> }) => Promise<T>) =>
    fn({ query: this.query, exec: async () => {}, ...(this.memo ? { memo: this.memo } : {}) })
  transaction = async () => ({ result: undefined as never, lsn: formatLsn(this.current) })
  listen = async () => async () => {}
  close = async () => {}
}

const connectionRefused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
const whoServed = (q: Queryable) => q.query<{ node: string }>('SELECT who').then((r) => r.rows[0]!.node)

let shards: Shards | undefined
afterEach(async () => {
  await shards?.close()
  shards = undefined
  vi.useRealTimers()
})

function setup(replicaCount = 1) {
  const primary = new FakeNode('p')
  const replicas = Array.from({ length: replicaCount }, (_, i) => new FakeNode(`r${i}`))
  shards = createShards({
    shards: [{ primary, replicas }],
    healthInterval: '1h',
    maxLag: { bytes: 100, seconds: 5 },
  })
  return { primary, replicas, shards }
}

describe('read routing', () => {
  it('uses the primary until a replica passed a health check', async () => {
    const { shards } = setup()
    const read = await shards.readWithRoute(1, whoServed)
    expect(read).toMatchObject({ result: 'p', route: { node: 'primary', reason: 'no-replica' } })
  })

  it('serves plain reads from a healthy replica, and a token read only from one that replayed it', async () => {
    const { primary, replicas, shards } = setup()
    primary.current = 1000n
    replicas[0]!.replay = 1000n
    await shards.refreshHealth()
    expect(await shards.read(1, whoServed)).toBe('r0')
    expect((await shards.readWithRoute(1, whoServed, { minLsn: formatLsn(1000n) })).route.reason).toBe(
      'replica-caught-up',
    )
    const ahead = await shards.readWithRoute(1, whoServed, { minLsn: formatLsn(1001n) })
    expect(ahead).toMatchObject({ result: 'p', route: { node: 'primary', reason: 'replica-behind' } })
    expect(await shards.read(1, whoServed, { primary: true })).toBe('p')
  })

  it('checks the replay position live, not from the last health check', async () => {
    const { primary, replicas, shards } = setup()
    primary.current = 1000n
    replicas[0]!.replay = 1000n
    await shards.refreshHealth()
    replicas[0]!.replay = 2000n // replayed more since the check
    expect(await shards.read(1, whoServed, { minLsn: formatLsn(1500n) })).toBe('r0')
    replicas[0]!.replay = 900n // restarted lower: the cached 2000 must not be trusted
    expect(await shards.read(1, whoServed, { minLsn: formatLsn(1500n) })).toBe('p')
  })

  it('skips the check on a connection that already saw a position covering the token', async () => {
    const { primary, replicas, shards } = setup()
    primary.current = 1000n
    replicas[0]!.replay = 1000n
    replicas[0]!.memo = new Map()
    await shards.refreshHealth()
    const token = formatLsn(900n)
    for (let i = 0; i < 3; i++) expect(await shards.read(1, whoServed, { minLsn: token })).toBe('r0')
    expect(replicas[0]!.lsnChecks).toBe(1)
    expect(await shards.read(1, whoServed, { minLsn: formatLsn(1000n) })).toBe('r0')
    expect(replicas[0]!.lsnChecks).toBe(1)
    expect(await shards.read(1, whoServed, { minLsn: formatLsn(1001n) })).toBe('p')
    expect(replicas[0]!.lsnChecks).toBe(2)
  })

  it('moves a read to the primary when the replica fails, and skips the replica afterwards', async () => {
    const { replicas, shards } = setup()
    await shards.refreshHealth()
    replicas[0]!.failWith = connectionRefused()
    expect((await shards.readWithRoute(1, whoServed)).route).toMatchObject({
      node: 'primary',
      reason: 'replica-failed',
    })
    expect(shards.health()[0]).toMatchObject({
      healthy: false,
      lastError: expect.stringMatching(/ECONNREFUSED/),
    })
    expect((await shards.readWithRoute(1, whoServed)).route.reason).toBe('no-replica')
    replicas[0]!.failWith = null
    await shards.refreshHealth()
    expect(await shards.read(1, whoServed)).toBe('r0')
  })

  it('retries a read cancelled by a recovery conflict on the primary, but not the read’s own SQL errors', async () => {
    const { replicas, shards } = setup()
    await shards.refreshHealth()
    replicas[0]!.failWith = Object.assign(new Error('canceling statement due to conflict with recovery'), {
      code: '40001',
    })
    expect(await shards.read(1, whoServed)).toBe('p')
    await shards.refreshHealth()
    const missing = Object.assign(new Error('relation "nope" does not exist'), { code: '42P01' })
    await expect(
      shards.read(1, async () => {
        throw missing
      }),
    ).rejects.toBe(missing)
    expect(shards.routeCounts()[0]!['replica-failed']).toBe(1)
  })

  it('turns a primary that cannot be reached into ShardUnavailableError', async () => {
    const { primary, shards } = setup(0)
    primary.failWith = connectionRefused()
    await expect(shards.read(1, whoServed)).rejects.toMatchObject({ code: 'E_SHARD_UNAVAILABLE' })
  })

  it('spreads plain reads over replicas, and prefers one known to have replayed the token', async () => {
    const { primary, replicas, shards } = setup(2)
    primary.current = 1000n
    replicas[0]!.replay = 1000n
    replicas[1]!.replay = 1000n
    await shards.refreshHealth()
    const served = await Promise.all(Array.from({ length: 10 }, () => shards.read(1, whoServed)))
    expect(served.filter((n) => n === 'r0').length).toBe(5)
    expect(served.filter((n) => n === 'r1').length).toBe(5)

    primary.current = 3000n
    replicas[0]!.replay = 500n
    replicas[1]!.replay = 3000n
    await shards.refreshHealth()
    replicas[0]!.served = 0
    for (let i = 0; i < 4; i++)
      expect(await shards.read(1, whoServed, { minLsn: formatLsn(2000n) })).toBe('r1')
    expect(replicas[0]!.served).toBe(0)
  })
})

describe('failover', () => {
  it('finds the primary among nodes, follows a promotion, and reports it with the switch point', async () => {
    const a = new FakeNode('a')
    const b = new FakeNode('b')
    b.recovery = true
    a.current = 1000n
    b.replay = 1000n
    const seen: unknown[] = []
    shards = createShards({
      shards: [{ nodes: [b, a] }],
      healthInterval: '1h',
      onFailover: (f) => void seen.push(f),
    })
    expect(await shards.read(1, whoServed, { primary: true })).toBe('a')
    expect(shards.topology()[0]).toMatchObject({
      primary: 'a',
      replicas: ['b'],
      timeline: 1,
      lastFailover: null,
    })

    // a dies with 1500 acknowledged; b was promoted at 1000 onto timeline 2.
    a.current = 1500n
    await shards.onShard(0, async () => {})
    a.failWith = connectionRefused()
    b.recovery = false
    b.timeline = 2
    b.current = 1100n
    b.replayed = 1000n
    const [state] = await shards.refreshTopology()
    expect(state).toMatchObject({ primary: 'b', replicas: [], timeline: 2 })
    expect(state!.excluded).toEqual([{ name: 'a', reason: expect.stringMatching(/ECONNREFUSED/) }])
    expect(seen).toEqual([
      expect.objectContaining({
        from: 'a',
        to: 'b',
        fromTimeline: 1,
        timeline: 2,
        switchLsn: formatLsn(1000n),
        lastOldLsn: formatLsn(1500n),
      }),
    ])
    expect(await shards.read(1, whoServed, { primary: true })).toBe('b')
    // A lost commit's token reads the new primary, and says why.
    expect((await shards.readWithRoute(1, whoServed, { minLsn: formatLsn(1400n) })).route).toMatchObject({
      name: 'b',
      reason: 'token-beyond-primary',
    })
    // The old primary back on its own timeline (a split brain) is left out.
    a.failWith = null
    const [again] = await shards.refreshTopology()
    expect(again).toMatchObject({
      primary: 'b',
      excluded: [{ name: 'a', reason: expect.stringMatching(/second primary/) }],
    })
    expect(seen).toHaveLength(1)
  })

  it('notices a timeline switch behind a static primary address', async () => {
    const { primary, shards } = setup(0)
    await shards.refreshTopology()
    primary.timeline = 3
    const [state] = await shards.refreshTopology()
    expect(state).toMatchObject({
      timeline: 3,
      lastFailover: { from: 'p', to: 'p', fromTimeline: 1, timeline: 3 },
    })
  })
})

describe('replica health', () => {
  it('marks a replica beyond maxLag unhealthy, and measures seconds from its own samples', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(1_000_000)
    const primary = new FakeNode('p')
    const replica = new FakeNode('r')
    const health = new ShardHealth(0, primary, [replica], { bytes: 100, seconds: 5 }, 1000)
    primary.current = 1000n
    replica.replay = 1000n
    await health.check()
    expect(health.replicas[0]).toMatchObject({ healthy: true, lagBytes: 0, lagSeconds: 0 })

    // The primary moves on; the replica stops replaying. An idle primary's age would not count.
    vi.setSystemTime(1_002_000)
    primary.current = 1050n
    await health.check()
    expect(health.replicas[0]).toMatchObject({ healthy: true, lagBytes: 50, lagSeconds: 0 })
    vi.setSystemTime(1_008_000)
    primary.current = 1060n
    await health.check()
    expect(health.replicas[0]).toMatchObject({ healthy: false, lagBytes: 60, lagSeconds: 6 })
    expect(health.replicas[0]!.lastError).toMatch(/lagging 60 bytes/)

    replica.replay = 1200n
    primary.current = 1200n
    await health.check()
    expect(health.replicas[0]).toMatchObject({ healthy: true, lagBytes: 0, lagSeconds: 0 })
    expect(health.replicas[0]!.lastError).toBeUndefined()

    primary.current = 1400n
    await health.check()
    expect(health.replicas[0]).toMatchObject({ healthy: false, lagBytes: 200 })
  })

  it('reports an unreachable replica and a node that is not a replica', async () => {
    const primary = new FakeNode('p')
    const down = new FakeNode('down')
    const promoted = new FakeNode('promoted')
    down.failWith = connectionRefused()
    promoted.replay = null
    const health = new ShardHealth(0, primary, [down, promoted], {}, 1000)
    await health.check()
    expect(health.replicas[0]).toMatchObject({
      healthy: false,
      lastError: expect.stringMatching(/ECONNREFUSED/),
    })
    expect(health.replicas[1]).toMatchObject({
      healthy: false,
      lastError: expect.stringMatching(/not a replica/),
    })
  })

  it('times out a check that hangs', async () => {
    const primary = new FakeNode('p')
    const hung = new FakeNode('hung')
    hung.query = () => new Promise(() => {})
    const health = new ShardHealth(0, primary, [hung], {}, 20)
    await health.check()
    expect(health.replicas[0]).toMatchObject({
      healthy: false,
      lastError: expect.stringMatching(/timed out/),
    })
  })
})
