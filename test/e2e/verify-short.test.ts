import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))

// CI's short verify: 20 s of load with two faults. Server and instance start-up come on top (about 15 s on
// an idle 2-core machine, much more when other test runs share it), hence the generous test timeout.
describe('npm run verify (short run)', () => {
  const out = mkdtempSync(join(tmpdir(), 'concord-verify-'))
  afterAll(() => rmSync(out, { recursive: true, force: true }))

  it('runs the shop under faults, exits 0 and writes the JSON and HTML reports', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=source',
        'scripts/verify.ts',
        '--duration',
        '20',
        '--faults',
        'pubsub-kill,redis-restart',
        '--seed',
        '1',
        '--clients',
        '6',
        '--out',
        out,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
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
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr.slice(-4000)}`).toBe(0)
    expect(stdout).toContain('staleness age (ms)')
    expect(stdout).toContain('PASS: no violation of C1-C8')

    const report = JSON.parse(readFileSync(join(out, 'verify-report.json'), 'utf8'))
    expect(report.run).toMatchObject({ durationS: 20, faults: ['pubsub-kill', 'redis-restart'], seed: 1 })
    expect(report.counts.reads).toBeGreaterThan(20)
    expect(report.counts.writes).toBeGreaterThan(5)
    expect(report.counts.qualifyingReads).toBeGreaterThan(0)
    expect(report.convergence.writes).toBeGreaterThan(0)
    expect(report.faults.map((f: { fault: string }) => f.fault)).toEqual(['pubsub-kill', 'redis-restart'])
    expect(report.heals.heals).toBe(2)
    expect(report.invariants.orders.placed).toBeGreaterThan(0)
    expect(report.ryw).toBe(0)
    expect(report.monotonic).toMatchObject({ instance: 0, clientInstance: 0 })
    expect(report.violations).toEqual([])
    for (const section of ['stale', 'convergence', 'heals', 'invariants', 'series', 'targets', 'notes']) {
      expect(report).toHaveProperty(section)
    }

    const html = readFileSync(join(out, 'verify-report.html'), 'utf8')
    expect(html).toContain('<svg')
    expect(html).toContain('Staleness over time')
    expect(html).toContain('pubsub-kill')
  }, 420_000)
})
