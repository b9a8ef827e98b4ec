/**
 * concord/redis: everything concord runs on Redis (standalone or Cluster), built on the optional peer
 * dependency `ioredis`: the cache's L2 tier, the invalidation bus (pub/sub), and the Redis Streams broker.
 * Every adapter connects through one factory (`{ url } | { nodes } | { client }`, see `RedisTarget`).
 */
export { createRedisBus, type RedisBusOptions } from './bus.js'
export type { RedisClient, RedisTarget } from './connection.js'
export { ReplicationUnconfirmedError } from './errors.js'
export {
  createRedisStreamsBroker,
  type RedisStreamsBroker,
  type RedisStreamsBrokerOptions,
} from './streams-broker.js'
export { createRedisTier, type RedisTierOptions } from './tier.js'
