import { z } from 'zod'
import { type Duration, duration } from '../options.js'
import { type RedisTarget, redisTargetSchema } from './connection.js'

export const redisStreamsSchema = z.intersection(
  redisTargetSchema,
  z.object({
    /** Topic `t` is the stream `${prefix}:{t}`; its dedup keys share the `{t}` hash slot. @default 'concord' */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 characters of A-Z, a-z, 0-9, _ and -')
      .default('concord'),
    /** How long a published event id is remembered (the TTL of its `SET NX` key). @default 2m */
    dedupWindow: duration.default(120_000),
    /** Approximate cap on entries per stream (`XADD MAXLEN ~`); 0 keeps every entry. @default 0 */
    maxLen: z.number().int().min(0).default(0),
    /** Bound on a publish (waiting for the connection and the reply), and on subscribe setup. @default 2s */
    publishTimeout: duration.default(2_000),
    /** `XREADGROUP BLOCK` time: how long a read waits for new entries before looking for stuck ones. @default 2s */
    blockTime: duration.default(2_000),
    /** How often each subscriber runs `XAUTOCLAIM` for entries idle longer than its `ackWait`. @default 2s */
    claimInterval: duration.default(2_000),
  }),
)

/** Where to connect (`{ url }`, `{ nodes }` or `{ client }`), and this adapter's own options. */
export type RedisStreamsBrokerOptions = RedisTarget & {
  /** Topic `t` is the stream `${prefix}:{t}`; its dedup keys share the `{t}` hash slot. @default 'concord' */
  prefix?: string
  /** How long a published event id is remembered (the TTL of its `SET NX` key). @default 2m */
  dedupWindow?: Duration
  /** Approximate cap on entries per stream (`XADD MAXLEN ~`); 0 keeps every entry. @default 0 */
  maxLen?: number
  /** Bound on a publish (waiting for the connection and the reply), and on subscribe setup. @default 2s */
  publishTimeout?: Duration
  /** `XREADGROUP BLOCK` time: how long a read waits for new entries before looking for stuck ones. @default 2s */
  blockTime?: Duration
  /** How often each subscriber runs `XAUTOCLAIM` for entries idle longer than its `ackWait`. @default 2s */
  claimInterval?: Duration
}
export type ResolvedRedisStreamsOptions = Readonly<z.output<typeof redisStreamsSchema>>
