// What tracing costs a cache hit (`getOrLoad` served from L1, the hottest path): nobody listening (the anchor:
// what every user without tracing pays), a TracingChannel subscriber, and concord/otel started on an SDK
// provider that records and drops (no exporter). Same process, rounds interleaved, best round per mode.
// Writes bench/results/tracing.json.
import { tracingChannel } from 'node:diagnostics_channel'
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { context } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { TRACE_CHANNELS } from 'concord'
import { createCache } from 'concord/cache'
import { createOtelInstrumentation } from 'concord/otel'

const loadAtStart = loadavg()
const N = Number(process.env.BENCH_HITS ?? 300_000)
const ROUNDS = 5
const cache = createCache<string>({ name: 'bench' })
const loader = async () => 'v'
for (let i = 0; i < 1024; i++) await cache.getOrLoad(`k${i}`, loader)

async function hits(): Promise<number> {
  const start = process.hrtime.bigint()
  for (let i = 0; i < N; i++) await cache.getOrLoad(`k${i & 1023}`, loader)
  return Number(process.hrtime.bigint() - start) / N
}

const channel = tracingChannel(TRACE_CHANNELS.cacheGetOrLoad)
const subscriber = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
const otel = createOtelInstrumentation({ tracerProvider: new BasicTracerProvider() })
const modes: Record<string, { on(): void; off(): void }> = {
  off: { on() {}, off() {} },
  channel: { on: () => channel.subscribe(subscriber), off: () => channel.unsubscribe(subscriber) },
  otel: { on: () => otel.start(), off: () => otel.close() },
}
const best: Record<string, number> = { off: Infinity, channel: Infinity, otel: Infinity }
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, mode] of Object.entries(modes)) {
    mode.on()
    best[name] = Math.min(best[name]!, await hits())
    mode.off()
  }
}
await cache.close()
const result = {
  hitsPerRound: N,
  nsPerHit: Object.fromEntries(Object.entries(best).map(([k, v]) => [k, Number(v.toFixed(1))])),
  ratioToOff: {
    channel: Number((best.channel! / best.off!).toFixed(2)),
    otel: Number((best.otel! / best.off!).toFixed(2)),
  },
  loadAverage: { start: loadAtStart, end: loadavg() },
}
console.log(JSON.stringify(result, null, 2))
const out = join(dirname(fileURLToPath(import.meta.url)), 'results')
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'tracing.json'), `${JSON.stringify(result, null, 2)}\n`)
