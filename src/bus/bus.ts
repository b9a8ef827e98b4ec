/**
 * The invalidation bus port: tells every other instance of a cache to drop L1 entries (C2).
 *
 * A member publishes invalidations and receives other members' ones (never its own). Every message carries the
 * sender's identity and a sequence number; a member reports itself unhealthy while it may be missing messages
 * (disconnected, silent, or a sequence gap), and the cache bypasses and flushes L1 until it is healthy again.
 */
export interface InvalidationBus {
  /** A short name for stats (`'redis'`, `'memory'`). */
  readonly kind: string
  /** Joins `channel` as `instanceId`. Connects in the background; health events report progress. */
  connect(options: BusConnectOptions): BusMember
}

/** What to invalidate. Several messages published under load are merged into one (keys and tags unioned). */
export interface BusMessage {
  keys?: readonly string[]
  tags?: readonly string[]
  /** Everything in the channel. */
  all?: boolean
}

/** A message as delivered: who sent it, its sequence number and the sender's clock at sending. */
export interface ReceivedMessage extends BusMessage {
  from: string
  seq: number
  sentAt: number
  /** An early copy (see `EarlyDelivery`): no sequence number (`seq` is 0); the sequenced message follows. */
  early?: true
}

/** What a cache gives a bus when it joins a channel: where, as whom, and the callbacks for messages and health. */
export interface BusConnectOptions {
  /** The channel: one per cache name, so caches of other names never hear each other. */
  channel: string
  /** This process's identity: a member does not act on its own messages. */
  instanceId: string
  /** Receives every message of the channel published by another member, in order. */
  onMessage(message: ReceivedMessage): void
  /**
   * `healthy: false` when messages may be lost from now on (disconnected, silent bus); `healthy: true` when they
   * flow again. A sequence gap reports `false` then `true` with reason `'gap'`: messages were lost, none are now.
   */
  onHealth(healthy: boolean, reason: string): void
}

/** One cache's membership of a bus channel: publishes invalidations, reports health. */
export interface BusMember {
  /** False while messages may be lost: the cache then bypasses its L1 (C2). */
  readonly healthy: boolean
  /** Resolves once the message has been handed to the transport (merged with others while one is in flight). */
  publish(message: BusMessage): Promise<void>
  /** Optional capability; see `EarlyDelivery`. Absent on transports that cannot offer it (memory). */
  readonly early?: EarlyDelivery
  /** Counters of this member, for `cache.stats().bus`. */
  stats(): BusMemberStats
  /** Leaves the channel; the member publishes and receives nothing afterwards. */
  close(): Promise<void>
}

/**
 * An unsequenced early copy of a message, which a store on the same server as the bus (an L2 tier) can deliver
 * itself, in the same atomic step as the change it announces: receivers act on it at once, and it can never be
 * processed before that change. It consumes no sequence number and never counts as a gap, so copies sent over
 * another connection (arriving in any order) are harmless; the member's sequenced `publish` of the same message
 * must still follow, since gap detection (a lost or failed publish) rests on it.
 */
export interface EarlyDelivery {
  /** The transport's server, for a store to recognise its own (`{ kind: 'redis', target }` for a Redis bus). */
  readonly endpoint: { readonly kind: string }
  /** The pub/sub channel of this member. */
  readonly channel: string
  /** No sequenced publish in flight or queued: under load, leave it to the batched publishes. */
  readonly idle: boolean
  /** The wire text of `message` as an early copy. */
  encode(message: BusMessage): string
}

export interface BusMemberStats {
  healthy: boolean
  messagesIn: number
  messagesOut: number
  /** Published transport messages; below `messagesOut` when batching merged some. */
  batchesOut: number
  gaps: number
  disconnects: number
  publishErrors: number
  /** Early copies received (see `EarlyDelivery`); not in `messagesIn`. */
  earlyIn?: number
  /** Delivery delay of received messages (sender clock to receipt), in ms. */
  lagMs: { p50: number; p99: number; max: number; samples: number }
}
