import type { Redis } from 'ioredis'
import { BODY_FIELD, dedupKey, streamKey } from './streams-keys.js'

// KEYS[1] the stream, KEYS[1+i] the dedup key of event i; ARGV[1] dedup TTL ms, ARGV[2] MAXLEN (0: none),
// ARGV[1+2i] event id i, ARGV[2+2i] body i. One script, so the dedup mark and the entry are written together
// (atomically) and the batch keeps its order.
const PUBLISH = `
local ttl = ARGV[1]
local maxlen = tonumber(ARGV[2])
local added = 0
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ttl) then
    local id = ARGV[2 * i - 1]
    local body = ARGV[2 * i]
    if maxlen > 0 then
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', 'id', id, '${BODY_FIELD}', body)
    else
      redis.call('XADD', KEYS[1], '*', 'id', id, '${BODY_FIELD}', body)
    end
    added = added + 1
  end
end
return added
`

type PublishCommand = (numKeys: number, ...args: (string | Buffer | number)[]) => Promise<number>

/** Defines the publish script on a client (EVALSHA, loading it on first use or after a restart). */
export function definePublish(client: Redis): void {
  client.defineCommand('concordPublish', { lua: PUBLISH })
}

/** Appends events not seen within the dedup window; returns how many were new. */
export function publishEntries(
  client: Redis,
  prefix: string,
  topic: string,
  entries: { id: string; data: Uint8Array }[],
  dedupWindowMs: number,
  maxLen: number,
): Promise<number> {
  const keys = [streamKey(prefix, topic), ...entries.map((e) => dedupKey(prefix, topic, e.id))]
  const args = [
    String(Math.max(1, Math.round(dedupWindowMs))),
    String(maxLen),
    ...entries.flatMap((e) => [e.id, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength)]),
  ]
  const command = (client as unknown as { concordPublish: PublishCommand }).concordPublish
  return command.call(client, keys.length, ...keys, ...args)
}
