import { createShards } from 'concord/db'
import { createMemoryBroker, createMemoryBus, createMemoryTier } from 'concord/memory'
import { createPgliteNode } from 'concord/pglite'
import { searchDbMigrations, shardMigrations } from '../migrations.js'
import type { Infra } from './infra.js'

/**
 * Everything in this process: three PGlite shards and one for search, memory L2, bus and broker. Each
 * database starts from a cached template with the shop's migrations applied (concord/db's pglite-boot).
 */
export function embeddedInfra(): Infra {
  const shards = createShards({
    shards: [0, 1, 2].map(() => ({ primary: createPgliteNode({ migrations: shardMigrations }) })),
  })
  const search = createShards({ shards: [{ primary: createPgliteNode({ migrations: searchDbMigrations }) }] })
  const broker = createMemoryBroker()
  return {
    kind: 'embedded',
    shards,
    search,
    l2: createMemoryTier(),
    bus: createMemoryBus(),
    broker,
    async close() {
      await broker.close()
      await Promise.all([shards.close(), search.close()])
    },
  }
}
