import { createShards, type Shards } from '../db/index.js'
import { type CliConfig, requireNats, requireShards } from './config.js'
import { CliConfigError } from './errors.js'

// The backends load when a command needs them, so `concord --help` and a command that needs no NATS run on an
// install without those clients, and a missing client is one clear line instead of a module-resolution trace.

/** The shards of the config: each primary (and replica) a pg node. */
export async function connectShards(config: CliConfig): Promise<Shards> {
  const shards = requireShards(config)
  const { createPgNode } = await load(() => import('../pg/index.js'), 'pg')
  return createShards({
    shards: shards.map((s, i) => ({
      primary: createPgNode({
        connectionString: s.primary,
        name: `shard${i}`,
        applicationName: 'concord-cli',
      }),
      replicas: (s.replicas ?? []).map((r, j) =>
        createPgNode({ connectionString: r, name: `shard${i}-replica${j}`, applicationName: 'concord-cli' }),
      ),
    })),
  })
}

export async function connectBroker(config: CliConfig) {
  const nats = requireNats(config)
  const { createNatsBroker } = await load(
    () => import('../nats/index.js'),
    '@nats-io/transport-node @nats-io/jetstream',
  )
  return createNatsBroker({
    servers: nats.servers,
    name: 'concord-cli',
    ...(nats.prefix !== undefined && { prefix: nats.prefix }),
  })
}

/**
 * The caches the relay process invalidates: L2 (Redis) and every instance's L1 (the Redis bus), no L1 of its own.
 * `close` closes them.
 */
export async function connectInvalidatedCaches(invalidator: NonNullable<CliConfig['invalidator']>) {
  const { createRedisBus, createRedisTier } = await load(() => import('../redis/index.js'), 'ioredis')
  const { createCache } = await import('../cache/index.js')
  const l2 = createRedisTier({
    url: invalidator.redis,
    ...(invalidator.tierPrefix !== undefined && { prefix: invalidator.tierPrefix }),
  })
  const bus = createRedisBus({
    url: invalidator.redis,
    ...(invalidator.busPrefix !== undefined && { prefix: invalidator.busPrefix }),
  })
  const caches = Object.fromEntries(
    invalidator.caches.map((name) => [name, createCache({ name, l1: false, l2, bus })]),
  )
  return {
    caches,
    async close() {
      await Promise.all(Object.values(caches).map((c) => c.close()))
    },
  }
}

async function load<M>(importer: () => Promise<M>, packages: string): Promise<M> {
  try {
    return await importer()
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error
    throw new CliConfigError(`this command needs ${packages}: npm install ${packages}`, { packages })
  }
}
