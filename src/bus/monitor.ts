import type { BusMemberStats, ReceivedMessage } from './bus.js'
import { LagSamples } from './lag.js'

/** A bus message on the wire: sender, sequence, sender clock, and either a heartbeat, a goodbye or the payload. */
export interface WireMessage {
  i: string
  s: number
  t: number
  /** heartbeat: `s` is the sender's last sequence number, so a lost last message is noticed too */
  h?: 1
  /** goodbye: the sender closed; forget it without suspecting loss */
  x?: 1
  /**
   * early copy (see `EarlyDelivery`): delivered at once, but outside the sequence (`s` is not checked or kept),
   * since it may travel over another connection than the sender's sequenced messages; one of those follows.
   */
  u?: 1
  a?: 1
  k?: readonly string[]
  g?: readonly string[]
}

/**
 * The message as delivered, built in one allocation: this runs for every message on every member, and the
 * garbage of conditional spreads (a temporary object each) set off young-generation collections in the delivery
 * window. Absent fields stay absent.
 */
function delivered(message: WireMessage, seq: number, early: true | undefined): ReceivedMessage {
  const out: { -readonly [K in keyof ReceivedMessage]: ReceivedMessage[K] } = {
    from: message.i,
    seq,
    sentAt: message.t,
  }
  if (early) out.early = true
  if (message.k) out.keys = message.k
  if (message.g) out.tags = message.g
  if (message.a) out.all = true
  return out
}

interface MonitorOptions {
  from: string
  heartbeatTimeout: number
  onMessage(message: ReceivedMessage): void
  onHealth(healthy: boolean, reason: string): void
  heartbeat(): Promise<unknown>
}

/**
 * The receiving side of a transport that can lose messages: decides health and finds gaps.
 * - healthy only after hearing our own heartbeat echo, and only while it keeps coming (a deaf subscriber);
 * - a sequence number that skips, or a peer going silent without a goodbye (its publishes may be failing),
 *   is a gap: the cache flushes L1.
 */
export class BusMonitor {
  healthy = false
  readonly counts = {
    messagesIn: 0,
    messagesOut: 0,
    batchesOut: 0,
    gaps: 0,
    disconnects: 0,
    publishErrors: 0,
    earlyIn: 0,
  }
  private link = false
  private closed = false
  private lastEcho = 0
  private readonly peers = new Map<string, { seq: number; seen: number }>()
  private readonly lag = new LagSamples()

  constructor(private readonly options: MonitorOptions) {}

  /** The subscription is (re)established: ask for an echo now rather than at the next tick. */
  connected(): void {
    this.link = true
    this.beat()
  }

  disconnected(reason: string): void {
    if (this.link) this.counts.disconnects++
    this.link = false
    this.setHealth(false, reason)
  }

  receive(text: string): void {
    let message: WireMessage
    try {
      message = JSON.parse(text)
      if (typeof message.i !== 'string' || typeof message.s !== 'number') return
    } catch {
      return // not ours
    }
    const now = Date.now()
    if (message.u) {
      // Not an echo (it did not come through our publisher) and not part of the sender's sequence.
      if (message.i === this.options.from || !this.healthy) return
      this.lag.add(now - message.t)
      this.counts.earlyIn++
      this.options.onMessage(delivered(message, 0, true))
      return
    }
    this.lag.add(now - message.t)
    if (message.i === this.options.from) {
      this.lastEcho = now
      this.link = true
      this.setHealth(true, 'heartbeat echo')
      return
    }
    if (!this.healthy) return // everything is flushed on recovery anyway
    if (message.x) {
      this.peers.delete(message.i)
      return
    }
    const peer = this.peers.get(message.i)
    const expected = message.h ? message.s : message.s - 1
    if (peer === undefined) {
      this.peers.set(message.i, { seq: message.s, seen: now })
      // First word from this sender since we became healthy: what it sent before is covered by the flush then,
      // but a message it sent after and we lost is not; the two cannot be told apart, so only a sender that
      // never sent before (heartbeat 0, message 1) is taken as is.
      if (expected > 0) this.gap(`first contact with ${message.i} at sequence ${message.s}`)
    } else {
      peer.seen = now
      if (expected > peer.seq) this.gap(`sequence gap from ${message.i}: ${peer.seq} -> ${message.s}`)
      if (message.s > peer.seq) peer.seq = message.s
    }
    if (message.h) return
    this.counts.messagesIn++
    this.options.onMessage(delivered(message, message.s, undefined))
  }

  /** Called every heartbeat interval. */
  tick(): void {
    if (this.closed) return
    this.beat()
    const now = Date.now()
    if (this.healthy && now - this.lastEcho > this.options.heartbeatTimeout) {
      this.setHealth(false, 'bus silent: own heartbeat not heard')
    }
    for (const [id, peer] of this.peers) {
      if (now - peer.seen > this.options.heartbeatTimeout) {
        this.peers.delete(id)
        this.gap(`peer ${id} went silent`)
      }
    }
  }

  close(): void {
    this.closed = true
  }

  stats(): BusMemberStats {
    return { ...this.counts, healthy: this.healthy && !this.closed, lagMs: this.lag.summary() }
  }

  private beat(): void {
    this.options.heartbeat().catch(() => {
      this.counts.publishErrors++
    })
  }

  private gap(reason: string): void {
    this.counts.gaps++
    // While unhealthy L1 is off, and the recovery flushes anyway. A gap found then (a peer silent because we are
    // cut off too) must not signal "up": that turned L1 back on in the middle of a partition.
    if (!this.healthy) return
    this.options.onHealth(false, reason)
    this.options.onHealth(true, reason)
  }

  private setHealth(healthy: boolean, reason: string): void {
    if (this.healthy === healthy || this.closed) return
    this.healthy = healthy
    if (healthy) this.peers.clear()
    this.options.onHealth(healthy, reason)
  }
}
