// `npm run bench -- startup [--starts 5] [--only embedded|real]`
// How long `npm run demo` takes from the command to its `ready http://...` line, embedded (`--no-load`) and
// real (`--real --no-load`), five starts each: median and max, and the demo's own split of each start (the
// `start <step>: <ms> ms` lines it prints). The anchor in the same run is a bare `node --import tsx` process
// (what every start pays before the demo's first line of code). Goals: embedded median <= 6 s, real <= 10 s.
// Writes bench/results/startup.json.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startDemo } from '../test/support/demo.js'

const { values } = parseArgs({
  options: { starts: { type: 'string', default: '5' }, only: { type: 'string' } },
})
const starts = Number(values.starts)
if (!Number.isInteger(starts) || starts < 1) throw new Error(`--starts must be a positive integer`)
const modes = { embedded: ['--no-load', '--port', '0'], real: ['--real', '--no-load', '--port', '0'] }
const only = values.only as keyof typeof modes | undefined
if (only !== undefined && !(only in modes)) throw new Error(`--only must be embedded or real`)
const goalsMs = { embedded: 6000, real: 10_000 }
const root = fileURLToPath(new URL('..', import.meta.url))

const loadAtStart = loadavg()
console.log(`load average at start: ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}`)

interface Run {
  ms: number
  /** CPU time of the demo process until ready (not of the servers or instance processes it started). */
  cpuMs: number
  steps: Record<string, { ms: number; cpuMs: number }>
}

/** utime + stime of a live process, from /proc (Linux). */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ')
  return Math.round(((Number(fields[11]) + Number(fields[12])) * 1000) / 100)
}

/** One start: ms from spawning the demo to its ready line, and the steps it printed on the way. */
async function startOnce(args: string[]): Promise<Run> {
  const began = performance.now()
  const demo = await startDemo(args, { timeoutMs: 180_000 })
  const ms = Math.round(performance.now() - began)
  try {
    const steps: Run['steps'] = {}
    for (const [, step, stepMs, cpu] of demo.output().matchAll(/^start ([\w -]+): (\d+) ms, cpu (\d+) ms$/gm))
      steps[step!] = { ms: Number(stepMs), cpuMs: Number(cpu) }
    return { ms, cpuMs: cpuOf(demo.process.pid!), steps }
  } finally {
    await demo.stop()
  }
}

/** The floor: a node process with tsx loaded that does nothing. */
async function anchorOnce(): Promise<number> {
  const began = performance.now()
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', '-e', '0'], {
    cwd: root,
    stdio: 'ignore',
  })
  await once(child, 'exit')
  return Math.round(performance.now() - began)
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : Math.round((s[mid - 1]! + s[mid]!) / 2)
}

const anchors: number[] = []
for (let i = 0; i < starts; i++) anchors.push(await anchorOnce())
const anchorMedianMs = median(anchors)
console.log(`anchor (bare node --import tsx): median ${anchorMedianMs} ms`)

const results: Record<string, unknown> = {}
for (const mode of Object.keys(modes) as (keyof typeof modes)[]) {
  if (only && mode !== only) continue
  const runs: Run[] = []
  const failures: string[] = []
  for (let i = 0; i < starts; i++) {
    let run: Run
    try {
      run = await startOnce(modes[mode])
    } catch (error) {
      // Reported, not fatal: on a machine busy enough to time a server out, the other starts still count.
      const first = (error as Error).message.split('\n').find((line) => /^\w*Error: /.test(line))
      failures.push(first ?? (error as Error).message.split('\n')[0]!)
      console.log(`${mode} start ${i + 1}: failed: ${failures.at(-1)}`)
      continue
    }
    const split = Object.entries(run.steps).map(([step, t]) => `${step} ${t.ms}/${t.cpuMs}`)
    console.log(
      `${mode} start ${i + 1}: ${run.ms} ms, demo cpu ${run.cpuMs} ms; ms/cpu ms: ${split.join(', ')}`,
    )
    runs.push(run)
  }
  if (runs.length === 0) {
    results[mode] = { failures }
    continue
  }
  const times = runs.map((r) => r.ms)
  const medianMs = median(times)
  results[mode] = {
    medianMs,
    maxMs: Math.max(...times),
    demoCpuMedianMs: median(runs.map((r) => r.cpuMs)),
    goalMs: goalsMs[mode],
    withinGoal: medianMs <= goalsMs[mode],
    medianVsAnchor: Number((medianMs / anchorMedianMs).toFixed(1)),
    runs,
    failures,
  }
  console.log(`${mode}: median ${medianMs} ms, max ${Math.max(...times)} ms (goal ${goalsMs[mode]} ms)`)
}

const loadAtEnd = loadavg()
console.log(`load average at end: ${loadAtEnd.map((l) => l.toFixed(2)).join(' ')}`)
const out = join(root, 'bench', 'results', 'startup.json')
// With --only, the other mode's entry of the last run stays (each entry carries its own load average).
const { setup: _, ...previous } = only && existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {}
for (const entry of Object.values(results) as Record<string, unknown>[]) {
  entry.loadAverage = { atStart: loadAtStart, atEnd: loadAtEnd }
  entry.anchorMedianMs = anchorMedianMs
}
const result = {
  setup: {
    command: 'node --import tsx --conditions=source examples/shop/main.ts (what npm run demo runs)',
    starts,
    measured: 'spawn to the ready line; anchor: a bare node --import tsx process',
  },
  ...previous,
  ...results,
}
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
console.log(`wrote ${out}`)
