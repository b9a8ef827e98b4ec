import { inject } from 'vitest'
import { uniqueName } from './names.js'
import { createDatabase, pgUrl, replicaLag } from './pg-admin.js'

/** What the global setup hands to test workers: plain data, it crosses a process boundary. */
export interface SharedServicesInfo {
  redis: { host: string; port: number; url: string }
  redisCluster: { nodes: { host: string; port: number }[] }
  postgres: { primary: { host: string; port: number }; replica: { host: string; port: number } }
  nats: { url: string }
}

declare module 'vitest' {
  export interface ProvidedContext {
    concordServices: SharedServicesInfo
  }
}

export interface SharedServices {
  redis: { host: string; port: number; url: string }
  redisCluster: { nodes: { host: string; port: number }[] }
  postgres: {
    primaryUrl(db?: string): string
    replicaUrl(db?: string): string
    createDatabase(prefix: string): Promise<{ name: string; primaryUrl: string; replicaUrl: string }>
    replicaLag(): Promise<{ bytes: number; seconds: number }>
  }
  nats: { url: string }
}

/**
 * The servers the global setup started once for the whole run. Share them politely: take your own
 * database (createDatabase), key prefix and stream name (uniqueName), and never stop, kill or pause
 * them; a fault test starts its own servers (startRedis, startPostgres, startNats).
 */
export function sharedServices(): SharedServices {
  const info = inject('concordServices')
  if (!info) {
    throw new Error(
      'no shared services: run this test in the vitest project whose globalSetup is test/support/services/global-setup.ts',
    )
  }
  const { primary, replica } = info.postgres
  return {
    redis: info.redis,
    redisCluster: info.redisCluster,
    postgres: {
      primaryUrl: (db) => pgUrl(primary.port, db, primary.host),
      replicaUrl: (db) => pgUrl(replica.port, db, replica.host),
      async createDatabase(prefix) {
        const created = await createDatabase(primary.port, replica.port, uniqueName(prefix))
        return { ...created, replicaUrl: created.replicaUrl! }
      },
      replicaLag: () => replicaLag(pgUrl(primary.port), pgUrl(replica.port)),
    },
    nats: info.nats,
  }
}
