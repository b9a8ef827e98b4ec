import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { Redis } from 'ioredis'
import type { EventHandler, ResolvedSubscribeOptions, Subscription } from '../broker/kit.js'
import { BrokerUnavailableError, type InboundMessage, KeyedDispatcher, StopSignal } from '../broker/kit.js'
import { describeTarget } from './connection.js'
import { BODY_FIELD, createClient, whenReady } from './streams-keys.js'
import type { ResolvedRedisStreamsOptions } from './streams-options.js'

/** Idle time given to released entries: far past any `ackWait`, so the next `XAUTOCLAIM` of any subscriber takes them. */
const RELEASED_IDLE_MS = 1e12
/** A consumer with nothing pending and no activity for this long belonged to a subscriber that died; removed. */
const DEAD_CONSUMER_IDLE_MS = 3_600_000

export interface RedisStreamsSubscriptionParams {
  /** The broker's shared connection: acks, claims, keep-alives (never blocked). */
  cmd: Redis
  options: ResolvedRedisStreamsOptions
  key: string
  topic: string
  group: string
  handler: EventHandler
  subscribe: ResolvedSubscribeOptions
}

type Entry = [id: Buffer, fields: Buffer[] | null]

/**
 * One consumer of a Redis Streams consumer group, named uniquely (`host-pid-random`). New entries come from
 * `XREADGROUP >` on its own connection (it blocks); stuck ones (held by a consumer that stopped renewing them
 * for `ackWait`) from `XAUTOCLAIM`, which is how a dead subscriber's entries reach a live one.
 */
export function redisStreamsSubscription(params: RedisStreamsSubscriptionParams): Subscription {
  const { cmd, options, key, topic, group, handler, subscribe } = params
  const consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  const stop = new StopSignal()
  const server = describeTarget(options)
  const unavailable = (cause?: unknown) =>
    new BrokerUnavailableError('redis-streams', 'subscription', cause, { server })

  const dispatcher = new KeyedDispatcher<InboundMessage>(topic, group, handler, subscribe, {
    system: 'redis',
    ack: async (m) => void (await cmd.xack(key, group, m.id)),
    // XCLAIM to ourselves with JUSTID resets the idle time without counting a delivery.
    keepAlive: async (ms) =>
      void (await cmd.call('XCLAIM', key, group, consumer, 0, ...ms.map((m) => m.id), 'JUSTID')),
    release: async (ms) =>
      void (await cmd.call(
        'XCLAIM',
        key,
        group,
        consumer,
        0,
        ...ms.map((m) => m.id),
        'IDLE',
        RELEASED_IDLE_MS,
        'JUSTID',
      )),
  })
  const reader = createClient(options, (error) => dispatcher.reportError(error))
  let readerId: number | undefined
  reader.on('ready', () => {
    readerId = undefined
    reader.client('ID').then(
      (id) => {
        readerId = Number(id)
      },
      () => {},
    )
  })

  const toMessage = (entry: Entry, deliveryCount: number): InboundMessage => ({
    id: entry[0].toString(),
    data: bodyOf(entry[1]),
    deliveryCount,
  })

  let cursor = '0-0'
  let nextClaim = 0
  /** Takes entries idle past ackWait from any consumer of the group, oldest first, with their delivery counts. */
  const claim = async () => {
    const free = subscribe.maxInFlight - dispatcher.stats().pending
    if (free <= 0) return
    const [next, entries] = (await cmd.callBuffer(
      'XAUTOCLAIM',
      key,
      group,
      consumer,
      Math.round(subscribe.ackWait),
      cursor,
      'COUNT',
      free,
    )) as [Buffer, Entry[]]
    cursor = next.toString()
    if (cursor === '0-0') {
      nextClaim = Date.now() + options.claimInterval
      await removeDeadConsumers().catch((error) => dispatcher.reportError(error))
    }
    const live = entries.filter((e) => e[1] !== null)
    if (live.length === 0) return
    const counts = await deliveryCounts(live.map((e) => e[0].toString()))
    for (const entry of live) dispatcher.push(toMessage(entry, counts.get(entry[0].toString()) ?? 1))
  }

  const deliveryCounts = async (ids: string[]) => {
    const rows = (await cmd.call('XPENDING', key, group, ids[0]!, ids.at(-1)!, ids.length * 2, consumer)) as [
      string,
      string,
      number,
      number,
    ][]
    return new Map(rows.map(([id, , , count]) => [id, Number(count)]))
  }

  const removeDeadConsumers = async () => {
    const rows = (await cmd.call('XINFO', 'CONSUMERS', key, group)) as (string | number)[][]
    for (const row of rows) {
      const info = Object.fromEntries(
        Array.from({ length: row.length / 2 }, (_, i) => [row[2 * i], row[2 * i + 1]]),
      )
      if (Number(info.pending) === 0 && Number(info.idle) > DEAD_CONSUMER_IDLE_MS && info.name !== consumer) {
        await cmd.call('XGROUP', 'DELCONSUMER', key, group, String(info.name))
      }
    }
  }

  const read = async () => {
    const free = subscribe.maxInFlight - dispatcher.stats().pending
    if (free <= 0) return
    const reply = (await reader.callBuffer(
      'XREADGROUP',
      'GROUP',
      group,
      consumer,
      'COUNT',
      free,
      'BLOCK',
      blockFor(options.blockTime, nextClaim - Date.now()),
      'STREAMS',
      key,
      '>',
    )) as [Buffer, Entry[]][] | null
    for (const [, entries] of reply ?? []) {
      for (const entry of entries) dispatcher.push(toMessage(entry, 1))
    }
  }

  const loop = (async () => {
    while (!stop.stopped) {
      try {
        await whenReady(reader, options.publishTimeout, () => unavailable())
        await dispatcher.capacity()
        if (stop.stopped) break
        if (Date.now() >= nextClaim) await claim()
        if (stop.stopped) break
        await read()
      } catch (error) {
        if (stop.stopped) break
        dispatcher.reportError(error)
        // The group is gone (stream deleted, or Redis lost its data): make it again, from the start.
        if (/NOGROUP/.test(String(error))) {
          await cmd.xgroup('CREATE', key, group, '0', 'MKSTREAM').catch(() => {})
        }
        await stop.wait(250)
      }
    }
  })()

  return {
    async close() {
      if (stop.stopped) return
      stop.stop()
      // Wake the blocked read (it returns as if timed out) rather than cutting the connection: entries the
      // server already assigned to this consumer would otherwise wait out ackWait.
      if (readerId !== undefined) await cmd.client('UNBLOCK', readerId).catch(() => {})
      await loop
      await dispatcher.close()
      reader.disconnect()
      // A consumer with nothing pending is of no further use; one with released entries stays until claimed.
      const pending = (await cmd
        .call('XPENDING', key, group, '-', '+', 1, consumer)
        .catch(() => [1])) as unknown[]
      if (pending.length === 0) await cmd.call('XGROUP', 'DELCONSUMER', key, group, consumer).catch(() => {})
    },
    stats: () => dispatcher.stats(),
  }
}

function bodyOf(fields: Buffer[] | null): Uint8Array {
  if (!fields) return new Uint8Array(0)
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i]!.toString() === BODY_FIELD) return new Uint8Array(fields[i + 1]!)
  }
  return new Uint8Array(0)
}

/** Blocks no longer than the next claim is due (never 0: that would block forever). */
function blockFor(blockTime: number, untilClaim: number): number {
  return Math.max(1, Math.round(untilClaim > 0 ? Math.min(blockTime, untilClaim) : blockTime))
}
