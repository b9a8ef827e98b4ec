// The private real-services harness: servers from Debian's packages on free loopback ports in temp dirs.
// global-setup.ts is vitest's entry point and is deliberately not re-exported.
export { uniqueName } from './names.js'
export { type NatsServer, startNats } from './nats.js'
export {
  type LinkDirection,
  type LinkMode,
  type PartitionProxy,
  startPartitionProxy,
} from './partition-proxy.js'
export { type PgNode, type PostgresServer, pgBinDir, startPostgres } from './postgres.js'
export { type RedisServer, startRedis } from './redis.js'
export {
  type ClusterNode,
  type RedisClusterOptions,
  type RedisClusterServer,
  startRedisCluster,
} from './redis-cluster.js'
export { type SharedServices, type SharedServicesInfo, sharedServices } from './shared.js'
