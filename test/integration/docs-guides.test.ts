import { describe, expect, it } from 'vitest'
import { runSnippet } from '../support/docs-snippets.js'
import { sharedServices } from '../support/services/index.js'

// docs/guides/*.md's programs, run as a reader runs them, against the shared private servers (each snippet keeps
// its keys, streams and rows apart with its process id) and a database of its own.
const LSN = '[0-9A-F]+/[0-9A-F]+'
const lines = (stdout: string) => stdout.trim().split('\n')

describe('docs/guides: the snippets run', () => {
  it('cache/two-instances.ts: fill shared, invalidation across instances, one load, tags, grace, Redis down', async () => {
    const run = await runSnippet('docs/snippets/guides/cache/two-instances.ts', {
      REDIS_URL: sharedServices().redis.url,
    })
    expect(run.stderr).toBe('')
    const out = lines(run.stdout)
    expect(out.slice(0, 6)).toEqual([
      'a read v1, b read v1, loads 1',
      'a after its write: v2',
      'b after the bus message: v2',
      '100 cold reads, loads: 1',
      'after invalidateTag, a holds product:1 locally: false',
      'loader failed, grace served v2; graceServed 1',
    ])
    expect(out[6]).toMatch(/^a: l1 hit rate 0\.\d\d, l2 circuit closed, bus healthy true$/)
    expect(out[7]).toBe('Redis down: 5 reads answered, circuit open, L1 in use false, faults absorbed true')
    expect(run.code).toBe(0)
  })

  it('db/sharded.ts: two embedded shards, keys by slot, a reshard moves only the moved slot', async () => {
    const run = await runSnippet('docs/snippets/guides/db/sharded.ts', {}, 110_000)
    expect(run.stderr).toBe('')
    const out = lines(run.stdout)
    for (const [i, id] of ['alice', 'bob', 'carol', 'dave'].entries()) {
      expect(out[i]).toMatch(new RegExp(`^${id}: slot \\d+, shard [01], committed at ${LSN}$`))
    }
    expect(out[4]).toMatch(/^alice has 100; rows per shard: \d, \d$/)
    expect(out[5]).toBe('map v1 -> v2: moved alice')
    expect(run.code).toBe(0)
  }, 120_000)

  it('db/replicas.ts: a read at the commit LSN, and replica health', async () => {
    const db = await sharedServices().postgres.createDatabase('docs_guide_replicas')
    const run = await runSnippet('docs/snippets/guides/db/replicas.ts', {
      DATABASE_URL: db.primaryUrl,
      DATABASE_REPLICA_URL: db.replicaUrl!,
    })
    expect(run.stderr).toBe('')
    const out = lines(run.stdout)
    // Either node is right (C4): the replica when it replayed the LSN, else the primary.
    expect(out[0]).toMatch(
      new RegExp(`^read "hello" on the (replica|primary) \\([a-z-]+\\) at or past ${LSN}$`),
    )
    expect(out[1]).toMatch(/^replica: healthy (true|false), lag \d+ bytes$/)
    expect(run.code).toBe(0)
  })

  it('outbox/relay-and-inbox.ts: in order through NATS, a poisoned event dead-lettered and redriven', async () => {
    const db = await sharedServices().postgres.createDatabase('docs_guide_outbox')
    const run = await runSnippet('docs/snippets/guides/outbox/relay-and-inbox.ts', {
      DATABASE_URL: db.primaryUrl,
      NATS_URL: sharedServices().nats.url,
    })
    expect(run.stderr).toBe('')
    const out = lines(run.stdout)
    expect(out[0]).toBe('applied versions in order: 1, 2, 3')
    expect(out[1]).toMatch(/^dead-lettered: [0-9a-f-]{36} \(flag handler not deployed yet\)$/)
    expect(out.slice(2)).toEqual([
      'redriven: processed',
      'outbox: 0 pending, 0 dead-lettered; relay published 4',
    ])
    expect(run.code).toBe(0)
  })

  it('broker/three-brokers.ts: the same tour on memory, NATS JetStream and Redis Streams', async () => {
    const { nats, redis } = sharedServices()
    const run = await runSnippet('docs/snippets/guides/broker/three-brokers.ts', {
      NATS_URL: nats.url,
      REDIS_URL: redis.url,
    })
    expect(run.stderr).toBe('')
    expect(lines(run.stdout)).toEqual(
      ['memory', 'nats', 'redis'].map(
        (name) =>
          `${name}: handled 3 (sku-1 in order: sku-1@1 sku-1@2), dead letter after 3 deliveries, connected true`,
      ),
    )
    expect(run.code).toBe(0)
  })

  it('saga/transfer.ts: a saga completed once, one compensated, a choreography confirmed', async () => {
    const db = await sharedServices().postgres.createDatabase('docs_guide_saga')
    const run = await runSnippet('docs/snippets/guides/saga/transfer.ts', { DATABASE_URL: db.primaryUrl })
    expect(run.stderr).toBe('')
    expect(lines(run.stdout)).toEqual([
      't1 COMPLETED, again COMPLETED (created false); t2 COMPENSATED: the account is closed',
      'balances: 70, 30',
      'order: CONFIRMED (transition CONFIRMED)',
    ])
    expect(run.code).toBe(0)
  })

  it('checker/find-and-repair.ts: the planted divergence found, repaired and verified', async () => {
    const run = await runSnippet('docs/snippets/guides/checker/find-and-repair.ts')
    expect(run.stderr).toBe('')
    expect(lines(run.stdout)).toEqual([
      'alert: 1 divergent',
      'l2 product:7: version, source v2, copy v1, repaired true',
      'checked 20, inconsistent 1, repaired 1',
      'product:7 now 75',
    ])
    expect(run.code).toBe(0)
  })

  it('admin/node-http.ts and integrations/fastify.ts: status, metrics behind the token', async () => {
    const [http, fastify] = await Promise.all([
      runSnippet('docs/snippets/guides/admin/node-http.ts'),
      runSnippet('docs/snippets/guides/integrations/fastify.ts'),
    ])
    expect(http.stderr).toBe('')
    expect(lines(http.stdout)).toEqual([
      'dashboard at /admin/',
      'status: l2 hit rate 0.5, bus healthy true',
      'metrics: 4 hit series',
      'without the token: 401',
    ])
    expect(http.code).toBe(0)
    expect(fastify.stderr).toBe('')
    expect(lines(fastify.stdout)).toEqual(['fastify: status 200, caches 1'])
    expect(fastify.code).toBe(0)
  })

  it('integrations/orms.ts: one event from each ORM transaction relayed, the rolled-back one not', async () => {
    const db = await sharedServices().postgres.createDatabase('docs_guide_orms')
    const run = await runSnippet('docs/snippets/guides/integrations/orms.ts', { DATABASE_URL: db.primaryUrl })
    expect(run.stderr).toBe('')
    const out = lines(run.stdout)
    expect(out[0]).toMatch(new RegExp(`^committed at ${LSN}$`))
    expect(out[1]).toBe('published: drizzle, knex, kysely, pg')
    expect(run.code).toBe(0)
  })

  it('tracing/otel.ts and tracing/channel.ts: concord/otel spans, a loader span its child; TracingChannel messages', async () => {
    const [otel, channel] = await Promise.all([
      runSnippet('docs/snippets/guides/tracing/otel.ts'),
      runSnippet('docs/snippets/guides/tracing/channel.ts'),
    ])
    expect(otel.stderr).toBe('')
    expect(lines(otel.stdout)).toEqual([
      'SELECT products, child of getOrLoad products',
      'getOrLoad products (tier loader)',
      'getOrLoad products (tier l1)',
    ])
    expect(otel.code).toBe(0)
    expect(channel.stderr).toBe('')
    const attributes = (tier: string, hit: boolean) =>
      JSON.stringify({
        'cache.name': 'products',
        'cache.key': 'product:1',
        'cache.tier': tier,
        'cache.hit': hit,
      })
    expect(lines(channel.stdout)).toEqual([
      `getOrLoad products ${attributes('loader', false)} events: cache.fill`,
      `getOrLoad products ${attributes('l1', true)} events: none`,
    ])
    expect(channel.code).toBe(0)
  })

  it('wal-feed/feed.ts: plain-SQL writes evict the caches through the WAL, an insert becomes an event', async () => {
    const db = await sharedServices().postgres.createDatabase('docs_guide_feed')
    const run = await runSnippet('docs/snippets/guides/wal-feed/feed.ts', {
      DATABASE_URL: db.primaryUrl,
      REDIS_URL: sharedServices().redis.url,
    })
    expect(run.stderr).toBe('')
    const out = lines(run.stdout)
    expect(out.slice(0, 3)).toEqual([
      'product:1 cached: lamp',
      'after a plain-SQL UPDATE: desk lamp',
      'member:1 now gold',
    ])
    expect(out[3]).toMatch(new RegExp(`^event order\\.insert for order 7, lsn ${LSN}$`))
    expect(out[4]).toMatch(/^feed streaming: [1-3] transactions, 1 event$/)
    expect(run.code).toBe(0)
  })
})

// docs/guides/adapters.md: the bus contract against the guide's Map-based bus, registered in this file.
await import('../../docs/snippets/guides/adapter/map-bus.contract.js')
