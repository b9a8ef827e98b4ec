import { createShards, type Shards } from '../db/index.js'
import { createNatsBroker } from '../nats/index.js'
import { createPgNode } from '../pg/index.js'
import { type CliConfig, requireNats, requireShards } from './config.js'

/** The shards of the config: each primary (and replica) a pg node named after its host. */
export function connectShards(config: CliConfig): Shards {
  return createShards({
    shards: requireShards(config).map((s, i) => ({
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

export function connectBroker(config: CliConfig) {
  const nats = requireNats(config)
  return createNatsBroker({
    servers: nats.servers,
    name: 'concord-cli',
    ...(nats.prefix !== undefined && { prefix: nats.prefix }),
  })
}
