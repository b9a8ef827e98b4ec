import { createShards } from 'concord/db'
import { createOutboxAdmin, outboxMigrations } from 'concord/outbox'
import { createSagaAdmin, type SagaLog } from 'concord/saga'
import { describe, expect, it } from 'vitest'
import { InvalidInputError, InvalidOptionsError } from '../../src/errors.js'
import { createMemorySagaLog } from '../../src/memory/index.js'
import { createPgliteNode } from '../../src/pglite/index.js'

// The admin handles' options; what they read is in the outbox and saga-log contracts (concord/testing).
describe('admin handles', () => {
  it('an outbox admin reads only the shards it was given, and refuses bad options with typed errors', {
    timeout: 60_000,
  }, async () => {
    // Two shards over one embedded database: enough to see which shards a handle reads.
    const node = createPgliteNode()
    const shards = createShards({ shards: [{ primary: node }, { primary: node }], healthInterval: '1h' })
    try {
      await shards.migrate(outboxMigrations)
      const second = createOutboxAdmin({ shards, shardIndexes: [1] })
      expect((await second.status()).map((s) => s.shard)).toEqual([1])
      expect(await createOutboxAdmin({ shards }).status()).toEqual([
        { shard: 0, pending: 0, retrying: 0, deadLetters: 0, oldestAgeMs: 0 },
        { shard: 1, pending: 0, retrying: 0, deadLetters: 0, oldestAgeMs: 0 },
      ])
      expect(() => createOutboxAdmin({ shards, shardIndexes: [2] })).toThrow(InvalidInputError)
      expect(() => createOutboxAdmin({ shards: {} as never })).toThrow(InvalidOptionsError)
    } finally {
      await shards.close()
    }
  })

  it('a saga admin needs a log, and reads one without an engine', async () => {
    expect(() => createSagaAdmin({ log: {} as SagaLog })).toThrow(InvalidOptionsError)
    const admin = createSagaAdmin({ log: createMemorySagaLog() })
    expect(await admin.counts()).toEqual({
      RUNNING: 0,
      COMPENSATING: 0,
      COMPLETED: 0,
      COMPENSATED: 0,
      NEEDS_ATTENTION: 0,
    })
    await expect(
      admin.resolve('00000000-0000-4000-8000-000000000000', { status: 'COMPLETED', note: 'x' }),
    ).rejects.toMatchObject({ code: 'E_SAGA_NOT_FOUND' })
  })
})
