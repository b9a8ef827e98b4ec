import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createAdminHandler } from '../../admin/index.js'
import { createInvalidator, createRelay, type Invalidator } from '../../outbox/index.js'
import { type Command, text } from '../command.js'
import { connectBroker, connectInvalidatedCaches } from '../connect.js'
import { CliUsageError } from '../errors.js'

export const relay: Command = {
  name: 'relay',
  summary: "publish every shard's outbox to the broker until SIGTERM, serving /healthz and /metrics",
  details:
    'Runs the relay over the configured shards (or --shards 0,2) and NATS. On SIGTERM or SIGINT it stops claiming,\n' +
    'finishes and settles the batch in flight (no claim stays leased past it) and exits 0.\n' +
    'HTTP (--port, default 9464): GET /healthz answers 200 while the broker is connected, 503 otherwise; /metrics\n' +
    'and /admin/ are the admin handler (token from --token / CONCORD_ADMIN_TOKEN; without one /metrics is open and\n' +
    'the status API is closed).\n' +
    'With --invalidate products,orders and --redis <url> (or invalidator in the config file) it also runs the\n' +
    "invalidator: addInvalidation records invalidate those caches' Redis L2 and, over the Redis bus, every L1.",
  flags: {
    shards: { type: 'string', description: 'comma-separated shard indexes to relay (default every shard)' },
    id: { type: 'string', description: 'relay id, shown as the lease owner (default relay-<random>)' },
    token: { type: 'string', description: 'admin token for /admin/ and /metrics (at least 16 characters)' },
    port: { type: 'string', description: 'HTTP port for /healthz and /metrics (default 9464; 0 picks one)' },
    host: { type: 'string', description: 'HTTP host to bind (default 127.0.0.1)' },
    invalidate: { type: 'string', description: 'comma-separated cache names to run the invalidator for' },
    redis: { type: 'string', description: "Redis URL of those caches' L2 tier and bus" },
  },
  async run({ flags, config, shards, out, defer, signal }) {
    const db = await shards()
    const shardIndexes = parseIndexes(text(flags, 'shards'))
    const broker = await connectBroker(config)
    defer(() => broker.close())
    const id = text(flags, 'id')
    const worker = createRelay({
      shards: db,
      broker,
      ...(shardIndexes !== undefined && { shardIndexes }),
      ...(id !== undefined && { id }),
      onError: (error, shard) => out.progress(`relay: shard ${shard}: ${(error as Error).message ?? error}`),
    })
    let invalidator: Invalidator | undefined
    if (config.invalidator) {
      const invalidated = await connectInvalidatedCaches(config.invalidator)
      defer(() => invalidated.close())
      invalidator = createInvalidator({
        broker,
        caches: invalidated.caches,
        onUnknownCache: (cache) => out.progress(`invalidator: no cache ${cache} configured; record skipped`),
      })
    }
    const token = config.admin?.token
    const admin = createAdminHandler({
      token: token ?? randomBytes(24).toString('base64url'),
      metricsAuth: token === undefined ? 'open' : 'token',
      title: 'concord relay',
      sources: {
        outbox: () => worker.status(),
        broker: () => broker.health(),
        replication: () => db.health(),
        custom: {
          relay: () => worker.stats(),
          ...(invalidator && { invalidator: () => ({ applied: invalidator.applied() }) }),
        },
      },
    })
    const server = createServer((req, res) => {
      if (req.url === '/healthz' || req.url?.startsWith('/healthz?')) {
        const health = broker.health()
        const ok = health.connected && !signal.aborted
        res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ ok, broker: health, relay: worker.stats() }))
        return
      }
      admin(req, res)
    })
    await new Promise<void>((done, fail) => {
      server.once('error', fail)
      server.listen(
        config.admin?.port ?? 9464,
        text(flags, 'host') ?? config.admin?.host ?? '127.0.0.1',
        done,
      )
    })
    defer(() => new Promise<void>((done) => server.close(() => done())))
    const address = server.address() as AddressInfo
    await worker.start()
    await invalidator?.start()
    out.note(
      `relay running on ${shardIndexes?.length ?? db.count} shard(s)${invalidator ? `, invalidating ${config.invalidator!.caches.join(', ')}` : ''}; http://${address.address}:${address.port}/healthz`,
    )
    await new Promise<void>((done) => {
      if (signal.aborted) return done()
      signal.addEventListener('abort', () => done(), { once: true })
    })
    out.progress('relay: stopping (settling the batch in flight)')
    await worker.close()
    await invalidator?.close()
    const stats = worker.stats()
    out.note(
      `relay stopped: ${stats.published} published, ${stats.deadLettered} dead-lettered` +
        (invalidator ? `, ${invalidator.applied()} invalidations applied` : ''),
    )
    return 0
  },
}

function parseIndexes(list: string | undefined): number[] | undefined {
  if (list === undefined) return undefined
  const indexes = list.split(',').map((s) => Number(s.trim()))
  if (indexes.some((n) => !Number.isInteger(n) || n < 0)) {
    throw new CliUsageError(`--shards takes shard indexes like 0,2, got ${JSON.stringify(list)}`)
  }
  return indexes
}
