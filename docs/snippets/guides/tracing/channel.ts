/**
 * The tracing guide (docs/guides/tracing.md): the same points on a Node TracingChannel, no OpenTelemetry.
 * Embedded: no servers.
 * Run: node --import tsx --conditions=source docs/snippets/guides/tracing/channel.ts
 */
// #region channel
import { tracingChannel } from 'node:diagnostics_channel'
import { TRACE_CHANNELS, type TraceMessage } from 'concord'
import { createCache } from 'concord/cache'
import { createMemoryTier } from 'concord/memory'

tracingChannel<TraceMessage, TraceMessage>(TRACE_CHANNELS.cacheGetOrLoad).subscribe({
  start() {},
  end() {},
  asyncStart() {},
  // Attributes and events grow while the call runs: read them at asyncEnd.
  asyncEnd(message) {
    const events = message.events.map((e) => e.name).join(' ') || 'none'
    console.log(`${message.name} ${JSON.stringify(message.attributes)} events: ${events}`)
  },
  error(message) {
    console.error(message.error)
  },
})

const products = createCache<string>({ name: 'products', l2: createMemoryTier() })
await products.getOrLoad('product:1', async () => 'lamp') // a miss: loaded, then filled
await products.getOrLoad('product:1', async () => 'lamp') // an L1 hit
// #endregion channel
await products.close()
