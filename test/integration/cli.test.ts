import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Broker, EventEnvelope } from '../../src/broker/index.js'
import { createCache } from '../../src/cache/index.js'
import { run } from '../../src/cli/main.js'
import { createShards, type Shards } from '../../src/db/index.js'
import { createNatsBroker } from '../../src/nats/index.js'
import { createInbox, createOutbox, PoisonEventError } from '../../src/outbox/index.js'
import { createPgNode } from '../../src/pg/index.js'
import { createRedisBus, createRedisTier } from '../../src/redis/index.js'
import {
  createSagaEngine,
  createSqlSagaLog,
  defineSaga,
  type SagaEngine,
  sagaSqlFromShards,
} from '../../src/saga/index.js'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// The `concord` command against the harness's PostgreSQL and NATS. Most runs are in-process through `run`
// (the bin is a thin wrapper); the bin itself is spawned for its exit codes and SIGTERM.
const root = join(import.meta.dirname, '../..')
let urls: string[]
let shards: Shards
let broker: Broker
let configPath: string
let prefix: string

// Flags come after the command words: `concord outbox status --config x`.
const concord = (words: string[], flags: string[] = [], signal?: AbortSignal) =>
  runCli([...words, '--config', configPath, ...flags], signal)
async function runCli(argv: string[], signal?: AbortSignal) {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, {
    stdout: (t) => {
      stdout += t
    },
    stderr: (t) => {
      stderr += t
    },
    env: {},
    ...(signal && { signal }),
  })
  return { code, stdout, stderr }
}

beforeAll(async () => {
  const postgres = sharedServices().postgres
  const dbs = await Promise.all([postgres.createDatabase('cli'), postgres.createDatabase('cli')])
  urls = dbs.map((d) => d.primaryUrl)
  prefix = uniqueName('cli')
  const dir = mkdtempSync(join(tmpdir(), 'concord-cli-'))
  configPath = join(dir, 'concord.config.json')
  writeFileSync(
    configPath,
    JSON.stringify({
      shards: urls.map((primary) => ({ primary })),
      nats: { servers: sharedServices().nats.url, prefix },
    }),
  )
  shards = createShards({ shards: urls.map((u) => ({ primary: createPgNode({ connectionString: u }) })) })
  broker = createNatsBroker({ servers: sharedServices().nats.url, prefix })
})

afterAll(async () => {
  await broker?.close()
  await shards?.close()
})

// Runs first: the tests after it use the schema it applies through the CLI.
describe('concord migrate', () => {
  it('--print-sql prints what migrate applies: the same schema and bookkeeping, and migrate then finds nothing to do', async () => {
    const printed = await concord(['migrate'], ['--print-sql', '--json'])
    expect(printed.code).toBe(0)
    const script = JSON.parse(printed.stdout) as { migrations: string[]; sql: string }
    expect(script.migrations[0]).toBe('outbox@1')
    expect(script.migrations.some((m) => m.startsWith('saga@'))).toBe(true)

    // Shard 0 gets the printed script as psql would run it (one simple query, in a transaction); shard 1 gets
    // `concord migrate`.
    const client = new pg.Client({ connectionString: urls[0] })
    await client.connect()
    await client.query(`BEGIN;\n${script.sql}\nCOMMIT;`)
    await client.end()
    const applied = await concord(['migrate'], ['--json'])
    expect(applied.code).toBe(0)
    expect(JSON.parse(applied.stdout)).toEqual([
      { shard: 0, applied: '(up to date)' },
      { shard: 1, applied: script.migrations.join(' ') },
    ])
    const schema = async (shard: number) => ({
      migrations: (
        await shards.execute(
          shard,
          'SELECT module, version, name, checksum FROM concord_migrations ORDER BY 1, 2',
        )
      ).rows,
      columns: (
        await shards.execute(
          shard,
          `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
           WHERE table_name LIKE 'concord%' ORDER BY 1, 2`,
        )
      ).rows,
      indexes: (
        await shards.execute(
          shard,
          "SELECT indexname, indexdef FROM pg_indexes WHERE tablename LIKE 'concord%' ORDER BY 1",
        )
      ).rows,
    })
    const [a, b] = [await schema(0), await schema(1)]
    expect(a.migrations.length).toBe(script.migrations.length)
    expect(a.columns.length).toBeGreaterThan(10)
    expect(a).toEqual(b)

    const again = await concord(['migrate'], ['--json'])
    expect(JSON.parse(again.stdout)).toEqual([
      { shard: 0, applied: '(up to date)' },
      { shard: 1, applied: '(up to date)' },
    ])
  })
})

describe('concord outbox', () => {
  it('redrives a dead letter, which a `concord relay` then publishes to NATS', async () => {
    const outbox = createOutbox()
    const aggregateId = uniqueName('p')
    const {
      result: [event],
    } = await shards.withTransaction(aggregateId, (tx) =>
      outbox.add(tx, {
        aggregateType: 'product',
        aggregateId,
        aggregateVersion: 1,
        type: 'PriceChanged',
        payload: { price: 3 },
      }),
    )
    // The state a relay leaves after the last failed attempt (as claim.ts settles a dead letter).
    const shard = shards.shardFor(aggregateId)
    await shards.execute(
      shard,
      "UPDATE concord_outbox SET status = 'dead', attempts = 10, dead_at = now(), last_error = 'broker said no' WHERE id = $1",
      [event!.id],
    )
    const status = await concord(['outbox', 'status'], ['--json'])
    expect(JSON.parse(status.stdout)).toContainEqual(expect.objectContaining({ shard, deadLetters: 1 }))
    const table = await concord(['outbox', 'dead-letters'])
    expect(table.stdout).toMatch(/^ID\s+SHARD\s+TOPIC/)
    expect(table.stdout).toContain(event!.id)
    expect(table.stdout).toContain('broker said no')

    const seen: EventEnvelope[] = []
    const sub = await broker.subscribe('product', uniqueName('g'), async (e) => void seen.push(e))
    const stop = new AbortController()
    const relay = concord(['relay'], ['--port', '0', '--id', 'cli-relay'], stop.signal)
    try {
      const redrive = await concord(['outbox', 'redrive', event!.id])
      expect(redrive.code).toBe(0)
      expect(redrive.stdout).toMatch(new RegExp(`redriven\\s+${event!.id}`))
      await waitFor(() => seen.find((e) => e.id === event!.id), { what: 'the redriven event on NATS' })
    } finally {
      stop.abort()
      await sub.close()
    }
    const ended = await relay
    expect(ended.code).toBe(0)
    expect(ended.stdout).toContain('relay stopped: 1 published')
    const left = await shards.execute(shard, 'SELECT count(*)::int AS n FROM concord_outbox')
    expect(left.rows[0]).toEqual({ n: 0 })

    const missing = await concord(['outbox', 'redrive', event!.id])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^concord: .*\[E_[A-Z_]+\]\n$/)
  })
})

describe('concord relay with the invalidator', () => {
  it("applies an addInvalidation record the CLI's relay published: L2 and this instance's L1 drop the key", async () => {
    const url = sharedServices().redis.url
    const tierPrefix = `${uniqueName('clitier')}:`
    const busPrefix = `${uniqueName('clibus')}:`
    const cache = createCache<string>({
      name: 'products',
      l2: createRedisTier({ url, prefix: tierPrefix }),
      bus: createRedisBus({ url, prefix: busPrefix }),
    })
    const dir = mkdtempSync(join(tmpdir(), 'concord-cli-inv-'))
    const config = join(dir, 'concord.config.json')
    const base = JSON.parse(readFileSync(configPath, 'utf8'))
    writeFileSync(
      config,
      JSON.stringify({ ...base, invalidator: { redis: url, caches: ['products'], tierPrefix, busPrefix } }),
    )
    const stop = new AbortController()
    const relay = runCli(['relay', '--config', config, '--port', '0', '--id', 'cli-inv'], stop.signal)
    try {
      const key = uniqueName('p')
      expect(await cache.getOrLoad(key, async () => 'old')).toBe('old')
      expect((await cache.inspect(key)).l2?.value).toBe('old')
      const outbox = createOutbox()
      await shards.withTransaction(key, (tx) =>
        outbox.addInvalidation(tx, { cache: 'products', keys: [key] }),
      )
      // Both copies gone: L2's value deleted, this process's L1 dropped over the bus (so the loader runs again).
      await waitFor(
        async () =>
          (await cache.inspect(key)).l2?.value === undefined && (await cache.inspect(key)).l1 === undefined,
        {
          what: 'the key invalidated by the relay process',
        },
      )
      expect(await cache.getOrLoad(key, async () => 'new')).toBe('new')
    } finally {
      stop.abort()
      await cache.close()
    }
    const ended = await relay
    expect(ended.stderr).not.toMatch(/^concord: |invalidator: /m)
    expect(ended.code).toBe(0)
    expect(ended.stdout).toContain('1 invalidations applied')
  })
})

describe('concord inbox', () => {
  it("lists a consumer's dead letter and redrives it, so the next delivery runs the handler", async () => {
    const consumer = uniqueName('view')
    const inbox = createInbox({ shards, consumer })
    const aggregateId = uniqueName('i')
    const event = {
      id: '0b6c1d7e-3f1a-4c2b-9d7e-5a4b3c2d1e0f',
      aggregateType: 'product',
      aggregateId,
      aggregateVersion: 1,
      type: 'PriceChanged',
      payload: { price: 5 },
      headers: {},
      createdAt: new Date().toISOString(),
    }
    const first = await inbox.handle(event, async () => {
      throw new PoisonEventError('price out of range')
    })
    expect(first.status).toBe('dead-lettered')
    const list = await concord(['inbox', 'dead-letters'], ['--consumer', consumer, '--json'])
    expect(list.code).toBe(0)
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({
        consumer,
        eventId: event.id,
        error: expect.stringContaining('price out of range'),
      }),
    ])
    const noConsumer = await concord(['inbox', 'dead-letters'])
    expect(noConsumer.code).toBe(2)
    expect(noConsumer.stderr).toContain('--consumer')

    const redrive = await concord(['inbox', 'redrive', event.id], ['--consumer', consumer])
    expect(redrive.code).toBe(0)
    expect(
      JSON.parse((await concord(['inbox', 'dead-letters'], ['--consumer', consumer, '--json'])).stdout),
    ).toEqual([])
    const again = await inbox.handle(event, async () => 'handled')
    expect(again.status).toBe('processed')
  })
})

describe('concord sagas', () => {
  let engine: SagaEngine
  afterAll(() => engine?.close())

  it('lists a NEEDS_ATTENTION saga, shows it, and resolves it', async () => {
    const fast = { attempts: 1, backoff: 1, maxBackoff: 1 }
    engine = createSagaEngine({
      log: createSqlSagaLog({ db: sagaSqlFromShards(shards) }),
      action: fast,
      forward: fast,
      compensation: fast,
    })
    const def = defineSaga<{ n: number }>(uniqueName('stuck'), [
      {
        name: 'reserve',
        action: () => 'reserved',
        compensate: () => {
          throw new Error('warehouse offline')
        },
      },
      {
        name: 'charge',
        action: () => {
          throw new Error('card declined')
        },
        compensate: () => undefined,
      },
    ])
    const outcome = await engine.run(def, { n: 1 }, { idempotencyKey: uniqueName('k') })
    expect(outcome.status).toBe('NEEDS_ATTENTION')

    const list = await concord(['sagas', 'list'], ['--status', 'NEEDS_ATTENTION', '--name', def.name])
    expect(list.code).toBe(0)
    expect(list.stdout).toContain(outcome.id)
    expect(list.stdout).toContain('warehouse offline')
    const show = await concord(['sagas', 'show', outcome.id], ['--json'])
    const shown = JSON.parse(show.stdout) as { saga: { status: string }; history: { event: string }[] }
    expect(shown.saga.status).toBe('NEEDS_ATTENTION')
    expect(shown.history.length).toBeGreaterThan(2)

    const noNote = await concord(['sagas', 'resolve', outcome.id], ['--as', 'COMPENSATED'])
    expect(noNote.code).toBe(2)
    expect(noNote.stderr).toContain('--note')
    const resolved = await concord(
      ['sagas', 'resolve', outcome.id],
      ['--as', 'COMPENSATED', '--note', 'released the reservation by hand'],
    )
    expect(resolved.code).toBe(0)
    expect((await engine.get(outcome.id))?.status).toBe('COMPENSATED')
    expect((await engine.get(outcome.id))?.attention?.resolution).toBe('released the reservation by hand')
    const twice = await concord(['sagas', 'resolve', outcome.id], ['--as', 'COMPENSATED', '--note', 'again'])
    expect(twice.code).toBe(1)
    expect(twice.stderr).toContain('E_SAGA')
  })

  it('hands a NEEDS_ATTENTION saga back with retry, and an engine finishes it', async () => {
    let warehouseUp = false
    const def = defineSaga<{ n: number }>(uniqueName('retry'), [
      {
        name: 'reserve',
        action: () => 'reserved',
        compensate: () => {
          if (!warehouseUp) throw new Error('warehouse offline')
        },
      },
      {
        name: 'charge',
        action: () => {
          throw new Error('card declined')
        },
        compensate: () => undefined,
      },
    ])
    engine.register(def)
    const outcome = await engine.run(def, { n: 2 }, { idempotencyKey: uniqueName('k') })
    expect(outcome.status).toBe('NEEDS_ATTENTION')
    warehouseUp = true
    const retried = await concord(['sagas', 'retry', outcome.id])
    expect(retried.code).toBe(0)
    await engine.recover()
    await waitFor(async () => (await engine.get(outcome.id))?.status === 'COMPENSATED' || undefined, {
      what: 'the retried saga compensated',
    })
  })
})

describe('concord check', () => {
  it('reports a dead letter and a stuck saga as findings, with exit code 1', async () => {
    const result = await concord(['check'], ['--json'])
    // The sagas above were settled; leave a dead letter to find.
    const outbox = createOutbox()
    const aggregateId = uniqueName('c')
    const {
      result: [event],
    } = await shards.withTransaction(aggregateId, (tx) =>
      outbox.add(tx, { aggregateType: 'product', aggregateId, aggregateVersion: 1, type: 'X', payload: {} }),
    )
    await shards.execute(
      shards.shardFor(aggregateId),
      "UPDATE concord_outbox SET status = 'dead', dead_at = now(), last_error = 'x' WHERE id = $1",
      [event!.id],
    )
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout)).toEqual([])
    const found = await concord(['check'], ['--json'])
    expect(found.code).toBe(1)
    expect(JSON.parse(found.stdout)).toEqual([
      { check: 'outbox', subject: `shard ${shards.shardFor(aggregateId)}`, finding: '1 dead letters' },
    ])
    await concord(['outbox', 'discard', event!.id])
  })
})

describe('the concord bin', () => {
  const bin = (args: string[], env: Record<string, string> = {}) =>
    spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=source', join(root, 'src/cli/bin.ts'), ...args],
      {
        cwd: root,
        env: { ...process.env, ...env },
      },
    )
  const done = (child: ReturnType<typeof bin>) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (d) => (stdout += d))
      child.stderr.on('data', (d) => (stderr += d))
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })

  it('exits 2 with one line for a bad flag, and 0 after SIGTERM stops a relay', async () => {
    const bad = await done(bin(['outbox', 'status', '--nope']))
    expect(bad.code).toBe(2)
    expect(bad.stderr.trim().split('\n')).toHaveLength(1)
    expect(bad.stderr).toMatch(/^concord: .*--nope.*\[E_CLI_USAGE\]/)

    // Environment variables carry the config here (no file): CONCORD_SHARDS, CONCORD_NATS_URL.
    const child = bin(['relay', '--port', '0'], {
      CONCORD_SHARDS: urls.join(','),
      CONCORD_NATS_URL: sharedServices().nats.url,
    })
    const ended = done(child)
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    const url = await waitFor(() => /(http:\/\/\S+\/healthz)/.exec(out)?.[1], {
      what: 'the relay to listen',
      timeoutMs: 20_000,
    })
    const health = await fetch(url)
    expect(health.status).toBe(200)
    expect(((await health.json()) as { ok: boolean }).ok).toBe(true)
    const metrics = await fetch(url.replace('/healthz', '/metrics'))
    expect(await metrics.text()).toContain('concord_broker_connected 1')
    child.kill('SIGTERM')
    const result = await ended
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('relay stopped')
  })
})
