// `npm run verify -- --duration S --faults LIST --seed N [--out DIR]`
// Runs the shop in real mode on private servers, drives concurrent clients under a fault schedule,
// records a history, checks it against the consistency contract (C1-C8) and reports: a table on the
// terminal, verify-report.json and verify-report.html. Exit status 1 on any violation, 2 on a crash.

import { progressLine } from '../examples/shop/load/progress.js'
import { analyze } from './verify/analyze.js'
import { parseVerifyArgs } from './verify/args.js'
import { planFaults, runFaults } from './verify/faults.js'
import { History } from './verify/history.js'
import { sleep } from './verify/http.js'
import { checkInvariants } from './verify/invariants.js'
import { startSystem } from './verify/launch.js'
import { type Copies, convergenceSampler } from './verify/probes.js'
import { renderTable, writeReports } from './verify/report.js'
import { seededRandom } from './verify/rng.js'
import { runWorkload } from './verify/workload.js'

const args = parseVerifyArgs(process.argv.slice(2))
const log = (text: string) => process.stderr.write(`${text}\n`)

log(`verify: starting servers and the shop (${args.instances} instances per service)...`)
const startedAt = performance.now()
const system = await startSystem(args.instances).catch(async (error) => {
  // The launcher gives each instance 60 s to listen; on a machine busy with other test runs that can pass.
  log(`verify: start-up failed (${(error as Error).message}); trying once more`)
  return startSystem(args.instances).catch((again) => {
    log(`verify: could not start the shop: ${(again as Error).message}`)
    process.exit(2)
  })
})
let closed = false
const close = async () => {
  if (closed) return
  closed = true
  await system.close().catch((error) => log(`close: ${(error as Error).message}`))
}
process.once('SIGINT', () => void close().then(() => process.exit(130)))
process.once('SIGTERM', () => void close().then(() => process.exit(143)))

let exitCode = 2
try {
  log(`verify: shop up in ${((performance.now() - startedAt) / 1000).toFixed(1)} s at ${system.shop.baseUrl}`)
  const names = [...system.shop.urls.keys()]
  const copies: Copies = {
    urls: system.shop.urls,
    productInstances: names.filter((n) => n.startsWith('product-')),
    orderInstances: names.filter((n) => n.startsWith('order-')),
    searchInstances: names.filter((n) => n.startsWith('search-')),
  }
  const history = new History()
  const random = seededRandom(args.seed)
  const sampler = convergenceSampler(copies, history, {
    maxActive: 3,
    share: 0.25,
    deadlineMs: 10_000,
    random: seededRandom(args.seed + 7),
  })
  const stop = new AbortController()
  const durationMs = args.duration * 1000
  history.origin = performance.now()
  const load = runWorkload({
    baseUrl: system.shop.baseUrl,
    productInstances: copies.productInstances,
    orderInstances: copies.orderInstances,
    clients: args.clients,
    products: args.products,
    members: 100,
    seed: args.seed,
    signal: stop.signal,
    history,
    onWrite: (op) => sampler.offer(op.key, op.version!, op.ack),
  })
  const progress = progressLine(process.stderr)
  let lastEvent = ''
  const ticker = setInterval(() => {
    const s = (performance.now() - history.origin) / 1000
    const k = load.counters
    progress.update(
      `${s.toFixed(0)}/${args.duration} s  reads ${k.reads} (${Math.round(k.reads / Math.max(s, 1))}/s)  writes ${k.writes}  ` +
        `inserts ${k.inserts}  deletes ${k.deletes}  orders ${k.orders}  errors ${k.errors}  probed ${history.convergence.length}  ${lastEvent}`,
    )
  }, 500)
  const faultsDone = runFaults(planFaults(durationMs, args.faults), {
    system,
    copies,
    history,
    sampler,
    random,
    loadEndsAt: history.origin + durationMs,
    signal: stop.signal,
    onEvent: (text) => {
      lastEvent = text
    },
  })
  await sleep(durationMs)
  stop.abort()
  await load.done
  // A fault still in its window is healed before the final checks; then the traces finish (<= 10 s).
  await faultsDone
  await sampler.drain()
  clearInterval(ticker)
  progress.done()
  log('verify: load stopped; waiting for the shop to settle and checking the final state...')
  const invariants = await checkInvariants(system.shardUrls, system.searchUrl, history, 30_000).catch(
    (error) => {
      log(`final state check failed: ${(error as Error).message}`)
      return undefined
    },
  )
  const result = analyze(
    history,
    {
      durationS: args.duration,
      faults: args.faults,
      seed: args.seed,
      clients: args.clients,
      instances: args.instances,
    },
    invariants,
  )
  if (!invariants) result.violations.push({ rule: 'final state could not be checked', count: 1 })
  console.log(renderTable(result))
  const files = writeReports(args.out, result)
  log(`verify: wrote ${files.json} and ${files.html}`)
  exitCode = result.violations.length === 0 ? 0 : 1
} catch (error) {
  log(`verify crashed: ${(error as Error).stack ?? error}`)
} finally {
  await close()
}
process.exit(exitCode)
