import { randomUUID } from 'node:crypto'
import { Cluster, type Redis } from 'ioredis'
import { z } from 'zod'
import type { AcquireResult, L2Tier } from '../cache/kit.js'
import { FillWaiters } from '../cache/kit.js'
import { type Duration, duration, parseOptions } from '../options.js'
import {
  closeRedis,
  duplicateRedis,
  openRedis,
  type RedisClient,
  type RedisEndpoint,
  type RedisTarget,
  redisTargetSchema,
  sameRedis,
} from './connection.js'
import { ReplicationUnconfirmedError } from './errors.js'
import { ReadBatch } from './read-batch.js'
import { ACQUIRE, ADD_TAG, FILL, INVALIDATE, RELEASE, REPLICATION_ID, TAKE_TAG } from './tier-scripts.js'

export const schema = z.intersection(
  redisTargetSchema,
  z.object({
    /** Prefix of every Redis key and channel of this tier. No braces or glob characters. @default 'concord:' */
    prefix: z
      .string()
      .regex(/^[^{}*?[\]\\]*$/, 'no braces or glob characters')
      .default('concord:'),
    /**
     * How long an invalidation or write waits (`WAIT`) for the master's connected replicas to hold it before it
     * fails with `ReplicationUnconfirmedError` (the cache's `l2Timeout` bounds the whole call too). Unused
     * without replicas. @default '200ms'
     */
    replicaAckTimeout: duration.default(200),
  }),
)

/** Keys per MGET: large enough to fold a busy tick's reads, small enough not to hold up Redis (O(N) command). */
const MAX_BATCH = 128

/** Where to connect (`{ url }`, `{ nodes }` or `{ client }`), and this adapter's own options. */
export type RedisTierOptions = RedisTarget & {
  /** Prefix of every Redis key and channel of this tier. No braces or glob characters. @default 'concord:' */
  prefix?: string
  /**
   * How long an invalidation or write waits (`WAIT`) for the master's connected replicas to hold it before it
   * fails with `ReplicationUnconfirmedError` (the cache's `l2Timeout` bounds the whole call too). Unused
   * without replicas. @default '200ms'
   */
  replicaAckTimeout?: Duration
}

/** What the token-changing scripts return: the master's connected replicas and its replication id. */
type Replication = [number, string]

type Reply = (Buffer | number)[]
interface Scripts {
  concordAcquireBuffer(v: string, t: string, k: string, ...argv: (string | number)[]): Promise<Reply>
  concordFill(v: string, t: string, k: string, ...argv: (string | number | Buffer)[]): Promise<number>
  concordRelease(k: string, ...argv: string[]): Promise<number>
  concordInvalidate(
    v: string,
    t: string,
    k: string,
    ...argv: (string | number | Buffer)[]
  ): Promise<Replication>
  concordTakeTag(tagKey: string): Promise<string[]>
  concordAddTag(tagKey: string, key: string, ttlMs: number, cluster: string): Promise<Replication>
}
interface ReplicationCheck {
  wait(replicas: number, timeoutMs: number): this
  concordReplicationId(key: string): this
  exec(): Promise<[Error | null, unknown][] | null>
}

/**
 * The Redis L2 tier, standalone or Cluster (`{ url }`, `{ nodes }` or `{ client }`). Per key, the value, its
 * version token and its lease share a hash slot (`prefix{key}:v|t|k`), so fencing is one atomic Lua script.
 *
 * Failover (docs/contract.md, "Redis Cluster failover"): an invalidation, a write or a tag membership resolves
 * only once the key's master's replicas (connected, and on Cluster every one not flagged failed) hold it (`WAIT`, on a connection checked to still reach that
 * master), so a promoted replica has every confirmed token; a change not confirmed rejects, and the caller
 * retries it. Tokens are random, so a token minted on the lost master is never issued again, and a fill holding
 * one finds the promoted replica's token differs (or is absent) and is refused.
 *
 * Waiting for another instance's load: waiters flag the lease, and the holder's fill script publishes the value on
 * one channel only when someone waits. Pub/sub rather than a blocking pop because one subscriber connection
 * serves any number of waiting keys (a BLPOP would hold one connection per waiting key), and it works on Cluster.
 */
export function createRedisTier(input: RedisTierOptions): L2Tier {
  const options = parseOptions('createRedisTier', schema, input)
  const p = options.prefix
  const channel = `${p}fill`
  let connection: { client: RedisClient; owned: boolean } | undefined
  let subscriber: RedisClient | undefined
  let subscribed: Promise<void> | undefined
  let users = 0
  const waiters = new FillWaiters()
  // Standalone only: on Cluster the keys of one tick sit in different slots, so an MGET could not hold them.
  const reads = new ReadBatch<Buffer | null>(
    (key) => client().getBuffer(key),
    (keys) => (client() as Redis).mgetBuffer(keys),
    MAX_BATCH,
  )

  function client(): RedisClient & Scripts {
    if (connection === undefined) {
      connection = openRedis(options, 'concord-tier')
      const c = connection.client
      c.on('error', () => {}) // failures reach callers as rejected commands
      c.defineCommand('concordAcquire', { numberOfKeys: 3, lua: ACQUIRE })
      c.defineCommand('concordFill', { numberOfKeys: 3, lua: FILL })
      c.defineCommand('concordRelease', { numberOfKeys: 1, lua: RELEASE })
      c.defineCommand('concordInvalidate', { numberOfKeys: 3, lua: INVALIDATE })
      c.defineCommand('concordTakeTag', { numberOfKeys: 1, lua: TAKE_TAG })
      c.defineCommand('concordAddTag', { numberOfKeys: 1, lua: ADD_TAG })
      c.defineCommand('concordReplicationId', { numberOfKeys: 1, lua: REPLICATION_ID })
    }
    return connection.client as RedisClient & Scripts
  }
  const onCluster = () => (client() instanceof Cluster ? '1' : '0')
  const v = (key: string) => `${p}{${key}}:v`
  const t = (key: string) => `${p}{${key}}:t`
  const k = (key: string) => `${p}{${key}}:k`
  const tagKey = (tag: string) => `${p}tag:${tag}`

  /**
   * Resolves once the replicas the script saw (`replicas`) hold the change it made on `slotKey`'s master. WAIT
   * counts acknowledgements of this connection's writes so far, and it must run on the same master: in one
   * pipeline with a script that reads the replication id, which a promoted replica changes, so a WAIT that the
   * cluster routed to a new master (whose fresh connection has written nothing, and would be confirmed at once) is
   * caught.
   */
  async function confirmed(slotKey: string, [replicas, id]: Replication): Promise<void> {
    if (replicas === 0) return
    const check = (client() as unknown as { pipeline(): ReplicationCheck }).pipeline()
    const replies = await check.wait(replicas, options.replicaAckTimeout).concordReplicationId(slotKey).exec()
    const [[waitError, acked] = [null, 0], [idError, nowId] = [null, '']] = replies ?? []
    const error = waitError ?? idError
    if (error) throw new ReplicationUnconfirmedError(slotKey, replicas, 0, error.message)
    if (String(nowId) !== id)
      throw new ReplicationUnconfirmedError(slotKey, replicas, 0, 'the master changed')
    if (Number(acked) < replicas) {
      throw new ReplicationUnconfirmedError(
        slotKey,
        replicas,
        Number(acked),
        `${acked} of ${replicas} replicas within ${options.replicaAckTimeout} ms`,
      )
    }
  }

  async function invalidateOne(
    key: string,
    lsn: string | undefined,
    fenceMs: number,
    blob?: Buffer,
    ttl?: number,
    announce?: { channel: string; payload: string | undefined },
  ): Promise<void> {
    const replication = await client().concordInvalidate(
      v(key),
      t(key),
      k(key),
      randomUUID(),
      lsn ?? '',
      fenceMs,
      channel,
      key,
      ...(blob ? [blob, ttl!] : ['', 0]),
      ...(announce?.payload !== undefined ? [announce.channel, announce.payload] : ['', '']),
      onCluster(),
    )
    await confirmed(t(key), replication)
  }

  /** Adds `key` to each tag's set, whose lifetime only grows (see ADD_TAG). */
  async function addTags(key: string, tags: readonly string[], ttlMs: number): Promise<void> {
    if (tags.length === 0) return
    const c = client()
    await Promise.all(
      tags.map(async (tag) =>
        confirmed(tagKey(tag), await c.concordAddTag(tagKey(tag), key, ttlMs, onCluster())),
      ),
    )
  }

  function heard(message: Buffer): void {
    const newline = message.indexOf(0x0a)
    if (newline < 0) return
    const key = message.toString('utf8', 0, newline)
    waiters.wake(key, message[newline + 1] === 0x66 /* f */ ? message.subarray(newline + 2) : null)
  }

  return {
    kind: 'redis',
    open() {
      users++
      client()
    },
    async close() {
      if (--users > 0) return
      const owned = connection?.owned ? connection.client : undefined
      const sub = subscriber
      connection = undefined
      subscriber = undefined
      subscribed = undefined
      await Promise.all([owned && closeRedis(owned), sub && closeRedis(sub)])
    },
    // Not async: the hit path, one promise fewer. Absent is null here; the cache treats it as undefined.
    get(key) {
      const c = client()
      return c instanceof Cluster ? c.getBuffer(v(key)) : reads.get(v(key))
    },
    async acquire(key, request): Promise<AcquireResult> {
      const c = client()
      await addTags(key, request.tags, request.tagTtlMs)
      const reply = await c.concordAcquireBuffer(
        v(key),
        t(key),
        k(key),
        request.leaseId,
        request.leaseMs,
        request.newToken,
        request.fenceTtlMs,
        Date.now(),
      )
      if (reply[0] === 1) return { kind: 'hit', blob: reply[1] as Buffer }
      const token = (reply[1] as Buffer).toString()
      const lsnText = (reply[2] as Buffer).toString()
      const lsn = lsnText === '' ? undefined : lsnText
      return { kind: reply[0] === 2 ? 'lease' : 'busy', token, lsn }
    },
    async fill(key, token, blob, ttlMs, leaseId) {
      const stored = await client().concordFill(
        v(key),
        t(key),
        k(key),
        token,
        blob,
        ttlMs,
        leaseId ?? '',
        channel,
        key,
      )
      return stored === 1
    },
    async release(key, leaseId) {
      await client().concordRelease(k(key), leaseId, channel, key)
    },
    prepareWait() {
      if (subscribed === undefined) {
        const sub = duplicateRedis(client(), 'concord-tier-fills')
        subscriber = sub
        sub.on('error', () => {})
        sub.on('messageBuffer', (ch: Buffer, message: Buffer) => {
          if (ch.toString() === channel) heard(message)
        })
        subscribed = sub.subscribe(channel).then(
          () => undefined,
          (error: unknown) => {
            subscribed = undefined
            subscriber = undefined
            void closeRedis(sub)
            throw error
          },
        )
      }
      return subscribed
    },
    waitForFill: (key, timeoutMs) => waiters.wait(key, timeoutMs),
    announces(endpoint) {
      const target = (endpoint as Partial<RedisEndpoint>).target
      return endpoint.kind === 'redis' && target !== undefined && sameRedis(target, options)
    },
    async invalidate(keys, lsn, fenceTtlMs, announce) {
      await Promise.all(
        keys.map((key, i) =>
          invalidateOne(
            key,
            lsn,
            fenceTtlMs,
            undefined,
            undefined,
            announce && { channel: announce.channel, payload: announce.payloads[i] },
          ),
        ),
      )
    },
    async invalidateTag(tag, fenceTtlMs) {
      const keys = await client().concordTakeTag(tagKey(tag))
      await Promise.all(keys.map((key) => invalidateOne(key, undefined, fenceTtlMs)))
      return keys
    },
    async write(key, blob, ttlMs, tags, fenceTtlMs, announce) {
      await invalidateOne(
        key,
        undefined,
        fenceTtlMs,
        blob,
        ttlMs,
        announce && { channel: announce.channel, payload: announce.payloads[0] },
      )
      await addTags(key, tags, Math.max(ttlMs, fenceTtlMs))
    },
    async invalidatePrefix(keyPrefix, fenceTtlMs) {
      const c = client()
      const nodes = c instanceof Cluster ? c.nodes('master') : [c]
      const keys = new Set<string>()
      const pattern = `${p}{${keyPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`
      for (const node of nodes) {
        let cursor = '0'
        do {
          const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
          cursor = next
          for (const name of found) {
            if (name.endsWith(':v') || name.endsWith(':k')) keys.add(name.slice(p.length + 1, -3))
          }
        } while (cursor !== '0')
      }
      await Promise.all([...keys].map((key) => invalidateOne(key, undefined, fenceTtlMs)))
      return keys.size
    },
    async inspect(key) {
      const c = client()
      const [blob, fence, ttl] = await Promise.all([c.getBuffer(v(key)), c.hgetall(t(key)), c.pttl(v(key))])
      return {
        ...(blob && { blob, ttlMs: ttl }),
        ...(fence.t !== undefined && { token: fence.t }),
        ...(fence.l !== undefined && { lsn: fence.l }),
      }
    },
  }
}
