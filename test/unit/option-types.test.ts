import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import type { AdminOptions, schema as AdminOptionsSchema } from '../../src/admin/options.js'
import type {
  SubscribeOptions,
  subscribeSchema as SubscribeOptionsSchema,
} from '../../src/broker/subscribe-options.js'
import type { CacheOptions, cacheOptionsSchema as CacheOptionsSchema } from '../../src/cache/cache-options.js'
import type { CheckerOptions, schema as CheckerOptionsSchema } from '../../src/checker/checker.js'
import type {
  ConvergenceTracerOptions,
  schema as ConvergenceTracerOptionsSchema,
} from '../../src/checker/tracer.js'
import type { CliConfig, cliConfigSchema as CliConfigSchema } from '../../src/cli/config.js'
import type { ShardedOptions, schema as ShardsOptionsSchema } from '../../src/db/shards.js'
import type {
  MemoryBrokerOptions,
  memorySchema as MemoryBrokerOptionsSchema,
} from '../../src/memory/broker.js'
import type { NatsBrokerOptions, natsSchema as NatsBrokerOptionsSchema } from '../../src/nats/options.js'
import type { InboxOptions, schema as InboxOptionsSchema } from '../../src/outbox/inbox.js'
import type { InvalidatorOptions, schema as InvalidatorOptionsSchema } from '../../src/outbox/invalidation.js'
import type { RelayOptions, relaySchema as RelayOptionsSchema } from '../../src/outbox/relay-options.js'
import type { OutboxOptions, schema as OutboxOptionsSchema } from '../../src/outbox/writer.js'
import type { ChangeFeedOptions, schema as ChangeFeedOptionsSchema } from '../../src/pg/feed/options.js'
import type { PgNodeOptions, schema as PgNodeOptionsSchema } from '../../src/pg/node.js'
import type { RedisBusOptions, schema as RedisBusOptionsSchema } from '../../src/redis/bus.js'
import type {
  RedisStreamsBrokerOptions,
  redisStreamsSchema as RedisStreamsBrokerOptionsSchema,
} from '../../src/redis/streams-options.js'
import type { RedisTierOptions, schema as RedisTierOptionsSchema } from '../../src/redis/tier.js'
import type {
  SagaEngineOptions,
  engineOptionsSchema as SagaEngineOptionsSchema,
} from '../../src/saga/engine-options.js'
import type { SqlSagaLogOptions, schema as SqlSagaLogOptionsSchema } from '../../src/saga/pg-log.js'

// Every option type is written out (an interface with JSDoc and @default per field, for editors' hovers), while
// the zod schema beside it holds the defaults and the checks. This file keeps the two in step: it does not compile
// when a type names a field its schema lacks, lacks one its schema has, or accepts a value its schema's input does
// not (a type may be stricter than its schema, e.g. `{ url } | { nodes } | { client }`, never looser).

type Keys<T> = T extends unknown ? keyof T : never
type SameKeys<A, B> = [Exclude<Keys<A>, Keys<B>>, Exclude<Keys<B>, Keys<A>>] extends [never, never]
  ? true
  : false
type Accepted<Type, Schema> = [Type] extends [Schema] ? true : false
type InStep<Type, Schema extends z.ZodType> =
  SameKeys<Type, z.input<Schema>> extends true ? Accepted<Type, z.input<Schema>> : false

/** Compiles only when `Type` and `Schema` agree; returns true so the test below has something to see. */
function inStep<Type, Schema extends z.ZodType>(
  ..._: InStep<Type, Schema> extends true ? [] : [never]
): true {
  return true
}

const checked = {
  SqlSagaLogOptions: inStep<SqlSagaLogOptions, typeof SqlSagaLogOptionsSchema>(),
  SagaEngineOptions: inStep<SagaEngineOptions, typeof SagaEngineOptionsSchema>(),
  AdminOptions: inStep<AdminOptions, typeof AdminOptionsSchema>(),
  CliConfig: inStep<CliConfig, typeof CliConfigSchema>(),
  RedisStreamsBrokerOptions: inStep<RedisStreamsBrokerOptions, typeof RedisStreamsBrokerOptionsSchema>(),
  RedisTierOptions: inStep<RedisTierOptions, typeof RedisTierOptionsSchema>(),
  RedisBusOptions: inStep<RedisBusOptions, typeof RedisBusOptionsSchema>(),
  CheckerOptions: inStep<CheckerOptions, typeof CheckerOptionsSchema>(),
  ConvergenceTracerOptions: inStep<ConvergenceTracerOptions, typeof ConvergenceTracerOptionsSchema>(),
  CacheOptions: inStep<CacheOptions, typeof CacheOptionsSchema>(),
  ChangeFeedOptions: inStep<ChangeFeedOptions, typeof ChangeFeedOptionsSchema>(),
  PgNodeOptions: inStep<PgNodeOptions, typeof PgNodeOptionsSchema>(),
  SubscribeOptions: inStep<SubscribeOptions, typeof SubscribeOptionsSchema>(),
  NatsBrokerOptions: inStep<NatsBrokerOptions, typeof NatsBrokerOptionsSchema>(),
  InvalidatorOptions: inStep<InvalidatorOptions, typeof InvalidatorOptionsSchema>(),
  InboxOptions: inStep<InboxOptions, typeof InboxOptionsSchema>(),
  RelayOptions: inStep<RelayOptions, typeof RelayOptionsSchema>(),
  OutboxOptions: inStep<OutboxOptions, typeof OutboxOptionsSchema>(),
  ShardedOptions: inStep<ShardedOptions, typeof ShardsOptionsSchema>(),
  MemoryBrokerOptions: inStep<MemoryBrokerOptions, typeof MemoryBrokerOptionsSchema>(),
}

describe('option types', () => {
  it('match their schemas (checked by the compiler; see inStep)', () => {
    expect(Object.keys(checked)).toHaveLength(20)
  })
})
