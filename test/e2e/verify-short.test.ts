import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { FAULTS } from '../../scripts/verify/args.js'
import { launchChromium, saveDocsScreenshot } from '../support/browser.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
/** `--faults all` on one Redis: every fault but the Cluster's own. */
const SINGLE = FAULTS.filter((fault) => fault !== 'redis-failover')

async function verify(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=source', 'scripts/verify.ts', ...args],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => {
    stdout += chunk
  })
  child.stderr.on('data', (chunk) => {
    stderr += chunk
  })
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, stdout, stderr }
}

describe('npm run verify', () => {
  const out = mkdtempSync(join(tmpdir(), 'concord-verify-'))
  afterAll(() => rmSync(out, { recursive: true, force: true }))

  it('answers a bad argument in one line with what is accepted, exit 2, before starting anything', async () => {
    const { code, stdout, stderr } = await verify(['--faults', 'pubsub-kil'])
    expect(code).toBe(2)
    expect(stdout).toBe('')
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toContain('--faults: expects all, none, or a comma-separated list of pubsub-kill')
    expect(stderr).not.toContain('ZodError')
  })

  // CI's verify: one rotation of every single-Redis fault in a run that holds them (100 s of load for
  // thirteen, 97.5 s the minimum; each fault about 2.7 s in its slot), then the final checks (C3 quiescence, C5-C7) and the C8 phase. Server and
  // instance start-up come on top: about 15 s on an idle 2-core machine, over a minute when other test runs
  // share it; the whole test takes 1.5-3 minutes, of which about 40 s more than the 20 s run it replaces.
  it('runs every fault kind, checks every clause C1-C8, exits 0 and writes the JSON and HTML reports', async () => {
    const { code, stdout, stderr } = await verify([
      '--duration',
      '100',
      '--faults',
      'all',
      '--seed',
      '7',
      '--clients',
      '6',
      '--out',
      out,
    ])
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`).toBe(0)
    expect(stdout).toContain('staleness age (ms)')
    expect(stdout).toContain('PASS: C1-C8 all checked, no violation')

    const report = JSON.parse(readFileSync(join(out, 'verify-report.json'), 'utf8'))
    expect(report.run).toMatchObject({ durationS: 100, faults: SINGLE, seed: 7 })
    // Every fault was injected and healed (none failed to inject), each followed by a convergence measure.
    expect(report.faults.map((f: { fault: string }) => f.fault)).toEqual(SINGLE)
    for (const f of report.faults) expect(f.note).not.toContain('failed')
    expect(report.heals.heals).toBe(SINGLE.length)
    expect(report.heals.never).toBe(0)
    // Every clause was checked and passed, on real data.
    expect(
      report.clauses.map((c: { clause: string; verdict: string }) => `${c.clause} ${c.verdict}`),
    ).toEqual(['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8'].map((c) => `${c} pass`))
    expect(report.counts.qualifyingReads).toBeGreaterThan(50)
    expect(report.convergence.writes).toBeGreaterThan(0)
    expect(report.c3.quiescence.held).toBeGreaterThan(0)
    expect(report.c4.replicaFills).toBeGreaterThan(0)
    expect(report.c4.withoutLsn).toBe(0)
    expect(report.c8.injected).toHaveLength(6)
    expect(report.c8).toMatchObject({ found: 6, repaired: 6, stillThere: 0 })
    expect(report.invariants.orders.placed).toBeGreaterThan(0)
    expect(report.ryw).toBe(0)
    expect(report.violations).toEqual([])

    const html = readFileSync(join(out, 'verify-report.html'), 'utf8')
    expect(html).toContain('<svg')
    expect(html).toContain('Staleness over time')
    for (const fault of SINGLE) expect(html).toContain(fault)

    if (process.env.CONCORD_DOCS_SCREENSHOTS === '1') {
      // The report's first screen as a reader sees it (the verdict, the staleness chart, the summary's start),
      // for docs/images/verify-report.png (see saveDocsScreenshot).
      const browser = await launchChromium()
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
        await page.goto(`file://${join(out, 'verify-report.html')}`)
        expect(await page.textContent('body')).toContain('Staleness over time')
        await saveDocsScreenshot(page, 'verify-report', { fullPage: false })
      } finally {
        await browser.close()
      }
    }
  }, 600_000)

  // The Cluster's own fault, in the shortest run: a master SIGKILLed under load, its replica promoted.
  it('runs redis-failover on a Redis Cluster with a replica per master, every clause C1-C8 passing', async () => {
    const clusterOut = join(out, 'cluster')
    const { code, stdout, stderr } = await verify([
      '--redis',
      'cluster',
      '--duration',
      '15',
      '--faults',
      'redis-failover',
      '--seed',
      '7',
      '--clients',
      '4',
      '--out',
      clusterOut,
    ])
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`).toBe(0)
    const report = JSON.parse(readFileSync(join(clusterOut, 'verify-report.json'), 'utf8'))
    expect(report.faults.map((f: { fault: string }) => f.fault)).toEqual(['redis-failover'])
    expect(report.heals.never).toBe(0)
    expect(
      report.clauses.map((c: { clause: string; verdict: string }) => `${c.clause} ${c.verdict}`),
    ).toEqual(['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8'].map((c) => `${c} pass`))
    expect(report.counts.qualifyingReads).toBeGreaterThan(10)
  }, 600_000)
})
