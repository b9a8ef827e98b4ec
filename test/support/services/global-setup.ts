import type { TestProject } from 'vitest/node'
import { startDatabasePool } from './db-pool.js'
import { startNats } from './nats.js'
import { startPostgres } from './postgres.js'
import { isClosing } from './reaper.js'
import { startRedis } from './redis.js'
import { startRedisCluster } from './redis-cluster.js'
import type { SharedServicesInfo } from './shared.js'

/**
 * vitest globalSetup of the integration project: starts each kind of server once for the whole run,
 * all four at the same time, and hands their addresses to the test workers (inject('concordServices')).
 * If the run is interrupted or killed, reaper.ts still ends them.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = performance.now()
  const results = await Promise.allSettled([startRedis(), startRedisCluster(), startPostgres(), startNats()])
  const closers = results.flatMap((result) =>
    result.status === 'fulfilled' ? [() => result.value.close()] : [],
  )
  const failures = results.flatMap((result) =>
    result.status === 'rejected' ? [result.reason as unknown] : [],
  )
  if (failures.length > 0) {
    await Promise.allSettled(closers.map((close) => close()))
    // Interrupted (Ctrl-C) during start-up: the servers were killed on purpose, no need for their errors.
    if (isClosing()) throw new Error('concord services: start-up interrupted')
    throw new AggregateError(
      failures,
      `concord services failed to start:\n${failures.map(String).join('\n')}`,
    )
  }
  const [redis, cluster, postgres, nats] = results.map(
    (result) => (result as PromiseFulfilledResult<unknown>).value,
  ) as [
    Awaited<ReturnType<typeof startRedis>>,
    Awaited<ReturnType<typeof startRedisCluster>>,
    Awaited<ReturnType<typeof startPostgres>>,
    Awaited<ReturnType<typeof startNats>>,
  ]
  const info: SharedServicesInfo = {
    redis: { host: redis.host, port: redis.port, url: redis.url },
    redisCluster: { nodes: cluster.nodes },
    postgres: {
      primary: { host: postgres.primary.host, port: postgres.primary.port },
      replica: { host: postgres.replica!.host, port: postgres.replica!.port },
    },
    nats: { url: nats.url },
  }
  project.provide('concordServices', info)
  const pool = startDatabasePool(postgres.primary.url())
  const ms = Math.round(performance.now() - started)
  console.log(
    `concord services ready in ${ms} ms: redis ${redis.port}, cluster ${cluster.nodes.map((n) => n.port).join('/')}, ` +
      `postgres ${info.postgres.primary.port} (replica ${info.postgres.replica.port}), nats ${nats.port}`,
  )
  return async () => {
    const stopping = performance.now()
    await pool.stop()
    await Promise.allSettled(closers.map((close) => close()))
    console.log(`concord services stopped in ${Math.round(performance.now() - stopping)} ms`)
  }
}
