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
}

export interface BusConnectOptions {
  channel: string
  instanceId: string
  onMessage(message: ReceivedMessage): void
  /**
   * `healthy: false` when messages may be lost from now on (disconnected, silent bus); `healthy: true` when they
   * flow again. A sequence gap reports `false` then `true` with reason `'gap'`: messages were lost, none are now.
   */
  onHealth(healthy: boolean, reason: string): void
}

export interface BusMember {
  readonly healthy: boolean
  /** Resolves once the message has been handed to the transport (merged with others while one is in flight). */
  publish(message: BusMessage): Promise<void>
  stats(): BusMemberStats
  close(): Promise<void>
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
  /** Delivery delay of received messages (sender clock to receipt), in ms. */
  lagMs: { p50: number; p99: number; max: number; samples: number }
}
