import type { Redis } from 'ioredis'
import { within } from '../broker/kit.js'
import { openDedicated } from './connection.js'
import type { ResolvedRedisStreamsOptions } from './streams-options.js'

// The `{topic}` hash tag puts a topic's stream and its dedup keys in one slot, so the publish script may touch
// them together on a Redis Cluster as well.
export const streamKey = (prefix: string, topic: string) => `${prefix}:{${topic}}`
export const dedupKey = (prefix: string, topic: string, id: string) => `${prefix}:{${topic}}:id:${id}`

/** The entry field holding the encoded envelope (`id` holds the event id, for people reading the stream). */
export const BODY_FIELD = 'd'

/**
 * A connection of its own that fails commands at once while disconnected (no offline queue, no retry of a command
 * caught by a disconnect), so the loops and `publish` see an outage immediately; it still reconnects forever.
 */
export function createClient(options: ResolvedRedisStreamsOptions, onError: (error: Error) => void): Redis {
  const client = openDedicated(options, 'concord-streams', 'fail-fast') as Redis
  client.on('error', onError)
  return client
}

/** Resolves once `client` is ready, or rejects with `onTimeout()` after `ms`. */
export async function whenReady(client: Redis, ms: number, onTimeout: () => Error): Promise<void> {
  if (client.status === 'ready') return
  let listener: (() => void) | undefined
  const ready = new Promise<void>((resolve) => {
    listener = resolve
    client.once('ready', resolve)
  })
  try {
    await within(ready, ms, onTimeout)
  } finally {
    client.off('ready', listener!)
  }
}
