/**
 * The adapter guide (docs/guides/adapters.md): a whole InvalidationBus adapter in one file, for one process
 * (members on one value model instances). It passes `runBusContract` (map-bus.contract.ts).
 */
// #region bus
import type { BusMember, BusMessage, InvalidationBus, ReceivedMessage } from 'concord/cache'
import { ClosedError } from 'concord/errors'

interface Member {
  from: string
  onMessage: (message: ReceivedMessage) => void
  lags: number[]
}

export function createMapBus(): InvalidationBus {
  const channels = new Map<string, Set<Member>>()
  return {
    kind: 'map',
    connect({ channel, instanceId, onMessage, onHealth }): BusMember {
      const peers = channels.get(channel) ?? new Set<Member>()
      channels.set(channel, peers)
      const me: Member = { from: `${instanceId}/${crypto.randomUUID()}`, onMessage, lags: [] }
      peers.add(me)
      let seq = 0
      let closed = false
      const counts = { messagesIn: 0, messagesOut: 0, batchesOut: 0 }
      // Publishes of one tick leave as one message (the contract checks that batching merges them).
      let pending: { keys: Set<string>; tags: Set<string>; all: boolean; flushed: Promise<void> } | undefined
      const flush = (): void => {
        const batch = pending!
        pending = undefined
        const message: ReceivedMessage = { from: me.from, seq: ++seq, sentAt: Date.now() }
        if (batch.keys.size > 0) message.keys = [...batch.keys]
        if (batch.tags.size > 0) message.tags = [...batch.tags]
        if (batch.all) message.all = true
        counts.batchesOut++
        for (const peer of peers) {
          if (peer === me) continue
          peer.lags.push(Date.now() - message.sentAt)
          peer.onMessage(message)
        }
      }
      queueMicrotask(() => closed || onHealth(true, 'connected'))
      return {
        get healthy() {
          return !closed
        },
        publish(message: BusMessage): Promise<void> {
          if (closed) return Promise.reject(new ClosedError('map bus member')) // typed errors: the contract checks
          counts.messagesOut++
          pending ??= {
            keys: new Set(),
            tags: new Set(),
            all: false,
            flushed: new Promise((resolve) => setImmediate(() => resolve(flush()))),
          }
          for (const key of message.keys ?? []) pending.keys.add(key)
          for (const tag of message.tags ?? []) pending.tags.add(tag)
          pending.all ||= message.all === true
          return pending.flushed
        },
        stats() {
          const sorted = [...me.lags].sort((x, y) => x - y)
          const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
          return {
            ...counts,
            messagesIn: me.lags.length,
            healthy: !closed,
            gaps: 0, // an in-process Set loses nothing; a network bus counts holes in `seq` here
            disconnects: 0,
            publishErrors: 0,
            lagMs: { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0, samples: sorted.length },
          }
        },
        async close() {
          closed = true
          peers.delete(me)
        },
      }
    },
  }
}
// #endregion bus
