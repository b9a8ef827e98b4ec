import { ShardNotFoundError } from './errors.js'

/**
 * Maps a shard key to a shard in two steps: the key hashes to one of a fixed number of slots (the hash and
 * the slot count never change), and a versioned table assigns each slot to a shard. Resharding is then a
 * new table with a higher version that moves whole slots, the unit that data moves in; keys never rehash.
 * (Plain `hash % shards` would move almost every key when a shard is added; Redis Cluster uses the same
 * slot scheme for the same reason.)
 */
export interface ShardMap {
  /** Increases with every reassignment of slots. */
  readonly version: number
  readonly shards: number
  readonly slots: number
  /** The slot of a key: stable for the life of the data. */
  slotFor(shardKey: string | number): number
  /** The shard of a key under this version of the map. */
  shardFor(shardKey: string | number): number
  /** A new map, version + 1, with the given slots assigned to other shards (the resharding hook). */
  reassign(moves: Record<number, number>, shards?: number): ShardMap
  /** The slot-to-shard table, for persisting or comparing maps. */
  assignment(): readonly number[]
}

/** Default slot count: large enough to spread keys evenly, small enough to store the table anywhere. */
export const DEFAULT_SLOTS = 4096

/**
 * A slot map over `shards` shards. Without `assignment`, slots are split into contiguous, equal ranges, so
 * splitting a shard later means moving the upper half of its range.
 */
export function createShardMap(options: {
  shards: number
  slots?: number
  version?: number
  assignment?: readonly number[]
}): ShardMap {
  const { shards, slots = DEFAULT_SLOTS, version = 1 } = options
  if (!Number.isInteger(shards) || shards < 1) {
    throw new ShardNotFoundError(`a shard map needs at least one shard, got ${shards}`, { shards })
  }
  if (!Number.isInteger(slots) || slots < shards) {
    throw new ShardNotFoundError(`a shard map needs at least as many slots as shards, got ${slots}`, {
      slots,
    })
  }
  const table = options.assignment
    ? Uint16Array.from(options.assignment)
    : Uint16Array.from({ length: slots }, (_, slot) => Math.floor((slot * shards) / slots))
  if (table.length !== slots) {
    throw new ShardNotFoundError(`the assignment has ${table.length} slots, expected ${slots}`, { slots })
  }
  table.forEach((shard, slot) => {
    if (shard >= shards) {
      throw new ShardNotFoundError(`slot ${slot} is assigned to shard ${shard}, but there are ${shards}`, {
        slot,
        shard,
        shards,
      })
    }
  })

  const slotFor = (shardKey: string | number) => hashKey(shardKey) % slots
  return Object.freeze({
    version,
    shards,
    slots,
    slotFor,
    shardFor: (shardKey: string | number) => table[slotFor(shardKey)]!,
    assignment: () => Array.from(table),
    reassign(moves: Record<number, number>, newShards = shards): ShardMap {
      const next = Array.from(table)
      for (const [slot, shard] of Object.entries(moves)) next[Number(slot)] = shard
      return createShardMap({ shards: newShards, slots, version: version + 1, assignment: next })
    },
  })
}

/**
 * The slot hash of a key: 32-bit FNV-1a over the key's UTF-8 bytes, finished with murmur3's mixer so that
 * sequential ids spread over all slots. A number and its decimal string hash alike (42 and '42'). A
 * `{tag}` in a string key hashes only the tag, to place related keys on one shard (as Redis Cluster does).
 */
export function hashKey(shardKey: string | number): number {
  let text: string
  if (typeof shardKey === 'number') {
    if (!Number.isSafeInteger(shardKey)) {
      throw new ShardNotFoundError(`a numeric shard key must be a safe integer, got ${shardKey}`, {
        shardKey,
      })
    }
    text = String(shardKey)
  } else if (typeof shardKey === 'string' && shardKey.length > 0) {
    text = hashTag(shardKey)
  } else {
    throw new ShardNotFoundError(
      `a shard key must be a non-empty string or an integer, got ${String(shardKey)}`,
      {
        shardKey,
      },
    )
  }
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193)
  }
  hash ^= hash >>> 16
  hash = Math.imul(hash, 0x85ebca6b)
  hash ^= hash >>> 13
  hash = Math.imul(hash, 0xc2b2ae35)
  hash ^= hash >>> 16
  return hash >>> 0
}

function hashTag(key: string): string {
  const open = key.indexOf('{')
  if (open < 0) return key
  const close = key.indexOf('}', open + 1)
  return close > open + 1 ? key.slice(open + 1, close) : key
}
