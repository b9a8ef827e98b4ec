import { memoryBroker } from 'concord/broker'
import { memoryBus } from 'concord/bus'
import { memoryTier } from 'concord/cache'
import { createShards, pgliteNode } from 'concord/db'
import { searchDbMigrations, shardMigrations } from '../migrations.js'
import type { Infra } from './infra.js'

/**
 * Everything in this process: three PGlite shards and one for search, memory L2, bus and broker. Each
 * database starts from a cached template with the shop's migrations applied (concord/db's pglite-boot).
 */
export function embeddedInfra(): Infra {
  const shards = createShards({
    shards: [0, 1, 2].map(() => ({ primary: pgliteNode({ migrations: shardMigrations }) })),
  })
  const search = createShards({ shards: [{ primary: pgliteNode({ migrations: searchDbMigrations }) }] })
  const broker = memoryBroker()
  return {
    kind: 'embedded',
    shards,
    search,
    l2: memoryTier(),
    bus: memoryBus(),
    broker,
    async close() {
      await broker.close()
      await Promise.all([shards.close(), search.close()])
    },
  }
}
