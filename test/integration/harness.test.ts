import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { Cluster, Redis } from 'ioredis'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { sharedServices, uniqueName } from '../support/services/index.js'
import { waitFor } from '../support/wait.js'

// The run-wide servers from the global setup: each test takes its own database, key or stream.
const services = sharedServices()
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  await Promise.allSettled(cleanups.map((cleanup) => cleanup()))
})

async function pgClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  cleanups.push(() => client.end())
  return client
}

describe('uniqueName', () => {
  it('is unique and safe as a database, key prefix or stream name', () => {
    const names = new Set(Array.from({ length: 100 }, () => uniqueName('Shop-Orders.v2')))
    expect(names.size).toBe(100)
    for (const name of names) expect(name).toMatch(/^shop_orders_v2_\d+_\d+_[0-9a-f]{8}$/)
    expect(uniqueName('9lives')).toMatch(/^t_9lives_/)
    expect(uniqueName('x'.repeat(200)).length).toBeLessThanOrEqual(63)
  })
})

describe('shared postgres', () => {
  it('replicates a row written on the primary of a fresh database to the replica', async () => {
    const db = await services.postgres.createDatabase('harness')
    expect(db.primaryUrl).toBe(services.postgres.primaryUrl(db.name))
    expect(db.replicaUrl).toBe(services.postgres.replicaUrl(db.name))
    const primary = await pgClient(db.primaryUrl)
    const replica = await pgClient(db.replicaUrl)
    // The database exists on the replica as soon as createDatabase returns.
    expect((await replica.query('select pg_is_in_recovery() as r')).rows[0].r).toBe(true)
    await primary.query('create table price (sku text primary key, cents int not null)')
    await primary.query(`insert into price values ('p1', 1299)`)
    const row = await waitFor(
      async () =>
        (await replica.query('select cents from price where sku = $1', ['p1']).catch(() => null))?.rows[0],
      { what: 'row on the replica' },
    )
    expect(row.cents).toBe(1299)
    const lag = await waitFor(
      async () => {
        const current = await services.postgres.replicaLag()
        return current.bytes === 0 ? current : null
      },
      { what: 'no lag' },
    )
    expect(lag).toEqual({ bytes: 0, seconds: 0 })
  })
})

describe('shared postgres databases', () => {
  it('hands out distinct, empty databases to concurrent callers (pool claims race by rename)', async () => {
    const dbs = await Promise.all(
      Array.from({ length: 8 }, () => services.postgres.createDatabase('concurrent')),
    )
    expect(new Set(dbs.map((db) => db.name)).size).toBe(8)
    for (const db of dbs) {
      expect(db.name).toMatch(/^concurrent_\d+_\d+_[0-9a-f]{8}$/)
      const replica = await pgClient(db.replicaUrl)
      const { rows } = await replica.query(
        "select current_database() as name, count(*)::int as tables from pg_tables where schemaname = 'public'",
      )
      expect(rows[0]).toEqual({ name: db.name, tables: 0 })
    }
  })
})

describe('shared redis', () => {
  it('answers on its url', async () => {
    const client = new Redis(services.redis.url)
    cleanups.push(() => client.quit())
    const key = `${uniqueName('harness')}:k`
    await client.set(key, 'v')
    expect(await client.get(key)).toBe('v')
    expect(services.redis.url).toBe(`redis://127.0.0.1:${services.redis.port}`)
    expect(services.redis.port).not.toBe(6379)
  })
})

describe('shared redis cluster', () => {
  it('stores a key on the node that owns its slot', async () => {
    const { nodes } = services.redisCluster
    expect(nodes).toHaveLength(3)
    const cluster = new Cluster(nodes)
    cleanups.push(() => cluster.quit())
    const perNode = nodes.map((node) => new Redis(node.port, node.host))
    for (const client of perNode) cleanups.push(() => client.quit())

    const key = `${uniqueName('harness')}:price`
    await cluster.set(key, '42')
    const slot = Number(await perNode[0]!.call('CLUSTER', 'KEYSLOT', key))
    // CLUSTER SLOTS: [[start, end, [host, port, id], ...replicas], ...]
    const ranges = (await perNode[0]!.call('CLUSTER', 'SLOTS')) as [
      number,
      number,
      [string, number, string],
    ][]
    const owning = ranges.find(([start, end]) => start <= slot && slot <= end)
    expect(owning).toBeDefined()
    const ownerPort = owning![2][1]
    expect(nodes.map((node) => node.port)).toContain(ownerPort)

    for (const [i, node] of nodes.entries()) {
      const client = perNode[i]!
      if (node.port === ownerPort) expect(await client.get(key)).toBe('42')
      else await expect(client.get(key)).rejects.toThrow(/MOVED/)
    }
  })
})

describe('shared nats', () => {
  it('creates a JetStream stream, publishes and reads a message back', async () => {
    const nc = await connect({ servers: services.nats.url })
    cleanups.push(() => nc.close())
    const stream = uniqueName('harness')
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] })
    const ack = await jetstream(nc).publish(`${stream}.created`, 'hello')
    expect(ack.seq).toBe(1)
    const message = await jsm.streams.getMessage(stream, { seq: 1 })
    expect(message?.string()).toBe('hello')
    await jsm.streams.delete(stream)
  })
})
