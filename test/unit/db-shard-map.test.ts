import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createShardMap, ShardNotFoundError } from '../../src/db/index.js'
import { DEFAULT_SLOTS, hashKey } from '../../src/db/shard-map.js'

describe('slot shard map', () => {
  it('is deterministic, and a number and its decimal string share a shard', () => {
    const map = createShardMap({ shards: 3 })
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (id) => {
        const shard = map.shardFor(id)
        expect(shard).toBe(map.shardFor(String(id)))
        expect(shard).toBe(createShardMap({ shards: 3 }).shardFor(id))
        expect(shard).toBeGreaterThanOrEqual(0)
        expect(shard).toBeLessThan(3)
      }),
    )
  })

  it('spreads sequential ids evenly (within 10% of a fair share)', () => {
    const map = createShardMap({ shards: 3 })
    const counts = [0, 0, 0]
    for (let id = 1; id <= 30_000; id++) counts[map.shardFor(id)]!++
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(1_000)
    const slots = new Set(Array.from({ length: 30_000 }, (_, id) => map.slotFor(id)))
    expect(slots.size).toBeGreaterThan(DEFAULT_SLOTS * 0.99)
  })

  it('places keys with the same {tag} together', () => {
    const map = createShardMap({ shards: 8 })
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((t) => !/[{}]/.test(t)),
        fc.string(),
        (tag, rest) => {
          expect(map.slotFor(`order:{${tag}}:${rest.replace(/[{}]/g, '')}`)).toBe(map.slotFor(tag))
        },
      ),
    )
    expect(hashKey('{}x')).not.toBe(hashKey('x')) // an empty tag is no tag
  })

  it('reshards by moving whole slots: only keys of moved slots change shard, and the version grows', () => {
    const before = createShardMap({ shards: 2, slots: 64 })
    // Split shard 1: its upper half of slots moves to a new shard 2.
    const moves = Object.fromEntries(
      before
        .assignment()
        .map((shard, slot) => [slot, shard] as const)
        .filter(([slot, shard]) => shard === 1 && slot >= 48)
        .map(([slot]) => [slot, 2]),
    )
    const after = before.reassign(moves, 3)
    expect(after.version).toBe(before.version + 1)
    expect(after.shards).toBe(3)
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (key) => {
        const slot = before.slotFor(key)
        expect(after.slotFor(key)).toBe(slot)
        expect(after.shardFor(key)).toBe(slot in moves ? 2 : before.shardFor(key))
      }),
    )
  })

  it('rejects keys and maps that map nowhere', () => {
    const map = createShardMap({ shards: 2 })
    for (const bad of ['', 1.5, Number.NaN, 2 ** 60, null, undefined, {}]) {
      expect(() => map.shardFor(bad as never)).toThrow(ShardNotFoundError)
    }
    expect(() => createShardMap({ shards: 0 })).toThrow(ShardNotFoundError)
    expect(() => createShardMap({ shards: 2, slots: 4, assignment: [0, 1, 2, 0] })).toThrow(/slot 2/)
    expect(() => createShardMap({ shards: 2, slots: 4, assignment: [0, 1] })).toThrow(ShardNotFoundError)
  })
})
