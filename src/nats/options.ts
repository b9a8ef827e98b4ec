import { z } from 'zod'
import { type Duration, duration } from '../options.js'

export const natsSchema = z.object({
  /** Server URLs (`nats://host:4222`, `tls://host:4222`). */
  servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  user: z.string().optional(),
  pass: z.string().optional(),
  token: z.string().optional(),
  /** TLS settings (CA, client certificate and key, as file paths or PEM text); `{}` for TLS with system CAs. */
  tls: z
    .object({
      caFile: z.string().optional(),
      ca: z.string().optional(),
      certFile: z.string().optional(),
      cert: z.string().optional(),
      keyFile: z.string().optional(),
      key: z.string().optional(),
      handshakeFirst: z.boolean().optional(),
    })
    .optional(),
  /** Connection name shown by the server's monitoring. @default 'concord' */
  name: z.string().default('concord'),
  /** Stream `${prefix}_${topic}` holds subjects `${prefix}.${topic}.>`. @default 'concord' */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, '1-64 characters of A-Z, a-z, 0-9, _ and -')
    .default('concord'),
  /** The stream's `duplicate_window`: how long a published event id is remembered. @default 2m */
  dedupWindow: duration.default(120_000),
  /** The stream's `max_age`; 0 keeps messages until limits are changed by an operator. @default 0 */
  maxAge: duration.default(0),
  /** Stream replicas (in a JetStream cluster). @default 1 */
  replicas: z.number().int().min(1).max(5).default(1),
  /** Bound on a publish (connection, stream creation and every PubAck), and on subscribe setup. @default 2s */
  publishTimeout: duration.default(2_000),
  /**
   * Messages of one `publish` awaiting their PubAck at once (each aggregate has at most one: its next event is
   * sent when the previous one is acknowledged). @default 1024
   */
  maxPublishInFlight: z.number().int().min(1).default(1024),
  /** Wait between reconnect attempts; the client retries forever. @default 500ms */
  reconnectWait: duration.default(500),
  /** The consumer's `max_ack_pending`; keep it above the sum of the group's subscribers' maxInFlight. @default 1000 */
  maxAckPending: z.number().int().min(1).default(1_000),
})

export interface NatsBrokerOptions {
  /** Server URLs (`nats://host:4222`, `tls://host:4222`). */
  servers: string | string[]
  user?: string
  pass?: string
  token?: string
  /** TLS settings (CA, client certificate and key, as file paths or PEM text); `{}` for TLS with system CAs. */
  tls?: {
    caFile?: string
    ca?: string
    certFile?: string
    cert?: string
    keyFile?: string
    key?: string
    handshakeFirst?: boolean
  }
  /** Connection name shown by the server's monitoring. @default 'concord' */
  name?: string
  /** Stream `${prefix}_${topic}` holds subjects `${prefix}.${topic}.>`. @default 'concord' */
  prefix?: string
  /** The stream's `duplicate_window`: how long a published event id is remembered. @default 2m */
  dedupWindow?: Duration
  /** The stream's `max_age`; 0 keeps messages until limits are changed by an operator. @default 0 */
  maxAge?: Duration
  /** Stream replicas (in a JetStream cluster). @default 1 */
  replicas?: number
  /** Bound on a publish (connection, stream creation and every PubAck), and on subscribe setup. @default 2s */
  publishTimeout?: Duration
  /**
   * Messages of one `publish` awaiting their PubAck at once (each aggregate has at most one: its next event is
   * sent when the previous one is acknowledged). @default 1024
   */
  maxPublishInFlight?: number
  /** Wait between reconnect attempts; the client retries forever. @default 500ms */
  reconnectWait?: Duration
  /** The consumer's `max_ack_pending`; keep it above the sum of the group's subscribers' maxInFlight. @default 1000 */
  maxAckPending?: number
}
export type ResolvedNatsOptions = Readonly<z.output<typeof natsSchema>>
