// `npm run verify -- --duration S --faults LIST|all --seed N [--rate max|N] [--out DIR]`
// Runs the shop in real mode on private servers, drives concurrent clients under a fault schedule,
// checks the history against the consistency contract as it is recorded, then the final state (C3, C5-C7)
// and the checker on injected divergences (C8), and reports: a summary of C1-C8 on the terminal,
// verify-report.json and verify-report.html. Exit status 1 when a clause fails or could not be checked,
// 2 on a bad argument (one line saying what is accepted) or a crash.

import { progressLine } from '../examples/shop/load/progress.js'
import { analyze, type Finals, passed } from './verify/analyze.js'
import { parseVerifyArgs, type VerifyArgs, VerifyUsageError } from './verify/args.js'
import { runCheckerPhase } from './verify/checker-phase.js'
import { planFaults, runFaults } from './verify/faults.js'
import { History } from './verify/history.js'
import { sleep } from './verify/http.js'
import { checkInvariants } from './verify/invariants.js'
import { startSystem } from './verify/launch.js'
import { type Copies, convergenceSampler } from './verify/probes.js'
import { checkQuiescence } from './verify/quiescence.js'
import { renderTable, writeReports } from './verify/report.js'
import { seededRandom } from './verify/rng.js'
import { runWorkload } from './verify/workload.js'

const log = (text: string) => process.stderr.write(`${text}\n`)
let args: VerifyArgs
try {
  args = parseVerifyArgs(process.argv.slice(2))
} catch (error) {
  if (!(error instanceof VerifyUsageError)) throw error
  log(`verify: ${error.message}`)
  process.exit(2)
}

log(`verify: starting servers and the shop (${args.instances} instances per service)...`)
const startedAt = performance.now()
const system = await startSystem(args.instances, args.redis).catch(async (error) => {
  // The launcher gives each instance 60 s to listen; on a machine busy with other test runs that can pass.
  log(`verify: start-up failed (${(error as Error).message}); trying once more`)
  return startSystem(args.instances, args.redis).catch((again) => {
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
    rate: args.rate,
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
  const faults = runFaults(planFaults(durationMs, args.faults), {
    system,
    copies,
    history,
    sampler,
    random,
    signal: stop.signal,
    onEvent: (text) => {
      lastEvent = text
    },
  })
  // The load runs for the duration asked, and on until every planned fault was injected and healed (a slow
  // restart shifts the later ones), then 2 s more so the last heal is seen under load.
  await Promise.all([sleep(durationMs), faults.healed.then(() => sleep(2000))])
  stop.abort()
  const loadS = (performance.now() - history.origin) / 1000
  await load.done
  // Then the convergence measurements after heals and the traces finish (<= 10 s each).
  await faults.done
  await sampler.drain()
  clearInterval(ticker)
  progress.done()
  log('verify: load stopped; waiting for the shop to settle and checking the final state...')
  const finals: Finals = { errors: [] }
  const phase = async <T>(name: string, run: () => Promise<T>) =>
    run().catch((error) => {
      log(`${name} failed: ${(error as Error).message}`)
      finals.errors!.push(`${name}: ${(error as Error).message}`)
      return undefined
    })
  finals.invariants = await phase('final state check', () =>
    checkInvariants(system.shardUrls, system.searchUrl, history, 30_000),
  )
  const products = [...new Set(history.ops.map((o) => o.key).filter((k) => k > 0))]
  finals.quiescence = await phase('C3 quiescence check', () =>
    checkQuiescence(copies, system.shardUrls, [
      ...Array.from({ length: args.products }, (_, i) => i + 1),
      ...products,
    ]),
  )
  log('verify: C8: injecting divergences behind the shop and running its checker...')
  finals.checker = await phase('C8 checker phase', async () =>
    runCheckerPhase({
      baseUrl: system.shop.baseUrl,
      adminToken: system.adminToken,
      copies,
      redis: system.redis
        ? { host: system.redis.host, port: system.redis.port }
        : { nodes: system.cluster!.nodes },
      searchUrl: system.searchUrl,
      products: Array.from({ length: args.products }, (_, i) => i + 1),
      allProducts: new Set([...Array.from({ length: args.products }, (_, i) => i + 1), ...products]).size,
      count: 3,
      random: seededRandom(args.seed + 13),
    }),
  )
  const result = analyze(
    history,
    {
      durationS: args.duration,
      faults: args.faults,
      seed: args.seed,
      clients: args.clients,
      instances: args.instances,
      ...(args.rate !== undefined && { rate: args.rate }),
      loadS: Math.round(loadS * 10) / 10,
    },
    finals,
  )
  console.log(renderTable(result))
  const files = writeReports(args.out, result)
  log(`verify: wrote ${files.json} and ${files.html}`)
  exitCode = passed(result) ? 0 : 1
} catch (error) {
  log(`verify crashed: ${(error as Error).stack ?? error}`)
} finally {
  await close()
}
process.exit(exitCode)
