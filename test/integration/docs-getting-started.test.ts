import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runSnippet } from '../support/docs-snippets.js'
import {
  type NatsServer,
  type RedisServer,
  sharedServices,
  startNats,
  startRedis,
} from '../support/services/index.js'

// docs/getting-started.md's programs, run as a reader runs them. Each gets servers of its own (the snippets use
// concord's default key prefix and stream names, as a reader's first service would), and a database of its own.
describe('docs/getting-started.md: the snippets run', () => {
  let redis: RedisServer
  let nats: NatsServer

  beforeAll(async () => {
    ;[redis, nats] = await Promise.all([startRedis(), startNats()])
  })
  afterAll(async () => {
    await Promise.all([redis?.close(), nats?.close()])
  })

  it('cache.ts: two instances share a fill through Redis, and an invalidation by one reaches the other', async () => {
    const run = await runSnippet('docs/snippets/getting-started/cache.ts', { REDIS_URL: redis.url })
    expect(run.stderr).toBe('')
    expect(run.stdout.trim().split('\n')).toEqual([
      'a read 10, b read 10, loads: 1',
      'after the write b reads 12, loads: 2',
    ])
    expect(run.code).toBe(0)
  })

  it("README.md's ten-line example: a fill, then an invalidation that empties this instance's L1", async () => {
    const run = await runSnippet('docs/snippets/readme.ts', { REDIS_URL: redis.url })
    expect(run.stderr).toBe('')
    expect(run.stdout).toBe('price 10, still cached after invalidate: false\n')
    expect(run.code).toBe(0)
  })

  it('outbox.ts: an order committed on PostgreSQL is relayed through NATS and shipped once', async () => {
    const db = await sharedServices().postgres.createDatabase('docs_outbox')
    const env = { DATABASE_URL: db.primaryUrl, NATS_URL: nats.url }
    const first = await runSnippet('docs/snippets/getting-started/outbox.ts', env)
    expect(first.stderr).toBe('')
    expect(first.stdout).toMatch(
      /^placed (order-\d+) \(committed at LSN [0-9A-F]+\/[0-9A-F]+\)\nshipped book for \1\n$/,
    )
    expect(first.code).toBe(0)
    // A second run on the same database and stream: migrations already applied, the first order not shipped again.
    const second = await runSnippet('docs/snippets/getting-started/outbox.ts', env)
    expect(second.stdout).toMatch(/^placed (order-\d+) .*\nshipped book for \1\n$/)
    expect(second.code).toBe(0)
  }, 90_000)

  it('embedded.ts: the same service and cache on PGlite and the memory adapters, no servers', async () => {
    // PGlite compiles its WebAssembly and restores a data dir at start: seconds on a quiet machine, more when loaded.
    const run = await runSnippet('docs/snippets/getting-started/embedded.ts', {}, 110_000)
    expect(run.stderr).toBe('')
    expect(run.stdout).toMatch(
      /^placed (order-\d+) \(LSN [0-9A-F]+\/[0-9A-F]+\); cache a read 2 x lamp\ncache b read lamp from the shared tier\nshipped lamp for \1\n$/,
    )
    expect(run.code).toBe(0)
  }, 120_000)
})
