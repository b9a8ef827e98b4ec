import type { BusConnectOptions, BusMember, BusMemberStats, BusMessage, InvalidationBus } from '../bus/kit.js'
import { Batcher, BusPublishError, LagSamples } from '../bus/kit.js'
import { ClosedError } from '../errors.js'

/** Options of `createMemoryBus`. */
export interface MemoryBusOptions {
  /**
   * Runs a delivery. The default delivers synchronously inside `publish`; tests pass a scheduler to reorder
   * deliveries against other work.
   */
  schedule?: (deliver: () => void) => void
}

/** A memory bus plus fault injection: a disconnected member neither sends nor receives and reports unhealthy. */
export interface MemoryBus extends InvalidationBus {
  /** Cuts `instanceId` off: its members report unhealthy and miss messages until `reconnect`. */
  disconnect(instanceId: string): void
  /** Reconnects `instanceId`: its members report healthy again. */
  reconnect(instanceId: string): void
}

interface Member {
  options: BusConnectOptions
  from: string
  connected: boolean
  stats: Omit<BusMemberStats, 'healthy' | 'lagMs'>
  lag: LagSamples
}

/**
 * The embedded bus: members of one process on one `createMemoryBus()` value see each other's messages, in order and
 * without loss. Share one value between caches to model instances.
 */
export function createMemoryBus(options: MemoryBusOptions = {}): MemoryBus {
  const schedule = options.schedule ?? ((deliver: () => void) => deliver())
  const channels = new Map<string, Set<Member>>()

  function setConnected(instanceId: string, connected: boolean): void {
    for (const members of channels.values()) {
      for (const member of members) {
        if (member.options.instanceId !== instanceId || member.connected === connected) continue
        member.connected = connected
        if (!connected) member.stats.disconnects++
        member.options.onHealth(connected, connected ? 'reconnected' : 'disconnected')
      }
    }
  }

  return {
    kind: 'memory',
    disconnect: (instanceId) => setConnected(instanceId, false),
    reconnect: (instanceId) => setConnected(instanceId, true),
    connect(connectOptions): BusMember {
      let members = channels.get(connectOptions.channel)
      if (members === undefined) {
        members = new Set()
        channels.set(connectOptions.channel, members)
      }
      const member: Member = {
        options: connectOptions,
        from: `${connectOptions.instanceId}/${crypto.randomUUID().slice(0, 8)}`,
        connected: true,
        stats: { messagesIn: 0, messagesOut: 0, batchesOut: 0, gaps: 0, disconnects: 0, publishErrors: 0 },
        lag: new LagSamples(),
      }
      members.add(member)
      let seq = 0
      let closed = false
      const peers = members
      const batcher = new Batcher(async (message: BusMessage) => {
        if (!member.connected) {
          member.stats.publishErrors++
          throw new BusPublishError('memory', connectOptions.channel, 'disconnected')
        }
        const sent = { ...message, from: member.from, seq: ++seq, sentAt: Date.now() }
        member.stats.batchesOut++
        for (const peer of peers) {
          if (peer === member || !peer.connected) continue
          schedule(() => {
            if (!peer.connected || !peers.has(peer)) return
            peer.stats.messagesIn++
            peer.lag.add(Date.now() - sent.sentAt)
            peer.options.onMessage(sent)
          })
        }
      })
      queueMicrotask(() => {
        if (!closed) connectOptions.onHealth(member.connected, 'connected')
      })
      return {
        get healthy() {
          return member.connected && !closed
        },
        publish(message) {
          if (closed) return Promise.reject(new ClosedError('memory bus member'))
          member.stats.messagesOut++
          return batcher.publish(message)
        },
        stats: () => ({ ...member.stats, healthy: member.connected && !closed, lagMs: member.lag.summary() }),
        async close() {
          closed = true
          peers.delete(member)
        },
      }
    },
  }
}
