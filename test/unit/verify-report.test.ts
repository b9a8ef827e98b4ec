import { describe, expect, it } from 'vitest'
import { analyze, type Finals, passed } from '../../scripts/verify/analyze.js'
import type { CheckerPhase } from '../../scripts/verify/checker-phase.js'
import { History, type Op } from '../../scripts/verify/history.js'
import { renderHtml } from '../../scripts/verify/html.js'
import type { Invariants } from '../../scripts/verify/invariants.js'
import type { Quiescence } from '../../scripts/verify/quiescence.js'
import { renderTable } from '../../scripts/verify/report.js'

const op = (o: Partial<Op>): Op => ({
  client: 1,
  instance: 'product-1',
  key: 3,
  kind: 'read',
  invoke: 0,
  ack: 1,
  ok: true,
  ...o,
})

/** A small history: one write, a cross-instance stale read 5 ms later, a RYW violation, a fault window. */
function sample(): History {
  const history = new History()
  history.origin = 0
  history.record(op({ kind: 'write', client: 1, instance: 'product-1', version: 2, invoke: 1000, ack: 1010 }))
  history.record(op({ client: 2, instance: 'product-2', version: 1, invoke: 1015, ack: 1016 }))
  history.record(op({ client: 1, instance: 'product-1', version: 1, invoke: 1020, ack: 1021 }))
  history.faultEnded({ fault: 'redis-restart', start: 5000, end: 8000, note: 'SIGKILL' })
  history.heals.push({ fault: 'redis-restart', heal: 8000, keys: 1, ms: 120 })
  history.convergence.push({
    key: 3,
    version: 2,
    at: 1010,
    paths: { 'product-2:l1': 4, search: 90 },
    reason: 'sample',
  })
  return history
}

/** A history with nothing wrong: a write, then reads of its version on both instances. */
function clean(): History {
  const history = new History()
  history.origin = 0
  history.record(op({ kind: 'write', version: 2, invoke: 0, ack: 10, lsn: '0/100' }))
  history.record(op({ version: 2, invoke: 20, ack: 21, source: 'replica', lsn: '0/100' }))
  history.record(op({ client: 2, instance: 'product-2', version: 2, invoke: 22, ack: 23, source: 'l2' }))
  return history
}

const invariants: Invariants = {
  orders: { placed: 3, acked: 3, confirmed: 2, cancelled: 1, pending: 0 },
  nonTerminalOrders: 0,
  nonTerminalSagas: 0,
  sagas: { COMPLETED: 2, COMPENSATED: 1 },
  lostEffects: 0,
  duplicatedEffects: 0,
  unbalanced: [],
  ackMismatches: 0,
  searchRevived: 0,
  projectionBehind: 0,
  settledAfterMs: 5,
}
const quiet: Quiescence = { keys: 100, looked: 400, held: 120, behind: [] }
const checker: CheckerPhase = {
  injected: [
    { key: 4, copy: 'products:l2' },
    { key: 9, copy: 'search' },
  ],
  found: 2,
  repaired: 2,
  extra: 0,
  stillThere: 0,
  keys: 100,
  durationMs: 1200,
  scheduleMs: 30_000,
  missed: [],
}
const allFinals = (): Finals => ({ invariants, quiescence: quiet, checker })

describe('verify report', () => {
  const run = { durationS: 10, faults: ['redis-restart'], seed: 1, clients: 2, instances: 2 }

  it('lists C1 violations and keeps a tolerated cross-instance stale read out of them', () => {
    const result = analyze(sample(), run, allFinals())
    expect(result.stale.total).toBe(2)
    expect(result.ryw).toBe(1)
    expect(result.stale.agePerPath['cross-instance']).toMatchObject({ count: 1, max: 5 })
    expect(result.violations.map((v) => `${v.clause} ${v.rule}`)).toEqual([
      'C1 read-your-writes (own write, same instance)',
      'C1 stale read on the writing instance',
    ])
    expect(result.convergence.within['100ms']).toBe(1)
    expect(result.clauses.find((c) => c.clause === 'C1')).toMatchObject({ verdict: 'fail', violations: 2 })
    expect(passed(result)).toBe(false)
  })

  it('names every clause C1-C8 with its verdict and count, and passes only when all eight pass', () => {
    const result = analyze(clean(), { ...run, faults: [] }, allFinals())
    expect(result.clauses.map((c) => `${c.clause} ${c.verdict} ${c.violations}`)).toEqual(
      ['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8'].map((c) => `${c} pass 0`),
    )
    expect(passed(result)).toBe(true)
    expect(renderTable(result)).toContain('PASS: C1-C8 all checked, no violation')
    expect(result.counts.qualifyingFaultFree).toBe(2)
    expect(result.stale.rateUpper95).toBe(1) // 3 / 2, capped: two reads support no claim
  })

  it('fails a clause whose phase did not run, naming why', () => {
    const result = analyze(clean(), run, {
      invariants,
      quiescence: quiet,
      errors: ['C8 checker phase: refused'],
    })
    const c8 = result.clauses.find((c) => c.clause === 'C8')!
    expect(c8.verdict).toBe('not checked')
    expect(c8.checked).toContain('refused')
    expect(passed(result)).toBe(false)
    expect(renderTable(result)).toContain('FAIL: C8 not checked')
  })

  it('fails C3 when a product cache is behind the source after quiescence, C7 when the order cache is', () => {
    const behind: Quiescence = {
      ...quiet,
      behind: [
        { key: 5, path: 'product-2:l1', copyVersion: 3, sourceVersion: 4 },
        { key: 6, path: 'l2', copyVersion: 2 },
        { key: 16, path: 'order-products:l2', copyVersion: 1, sourceVersion: 2 },
      ],
    }
    const result = analyze(clean(), run, { ...allFinals(), quiescence: behind })
    expect(result.clauses.find((c) => c.clause === 'C3')).toMatchObject({ verdict: 'fail', violations: 2 })
    expect(result.clauses.find((c) => c.clause === 'C7')).toMatchObject({ verdict: 'fail', violations: 1 })
    expect(result.violations.map((v) => v.example)).toEqual([
      'product 5 product-2:l1 holds v3, source v4',
      'product 16 order-products:l2 holds v1, source v2',
    ])
  })

  it('counts divergences the checker found that nobody injected without failing C8', () => {
    const result = analyze(clean(), run, { ...allFinals(), checker: { ...checker, extra: 2 } })
    expect(result.c8?.extra).toBe(2)
    expect(result.clauses.find((c) => c.clause === 'C8')?.verdict).toBe('pass')
  })

  it('fails C8 when the checker missed, did not repair, or left an injected divergence', () => {
    const missed: CheckerPhase = {
      ...checker,
      found: 1,
      repaired: 0,
      stillThere: 1,
      missed: [{ key: 9, copy: 'search' }],
    }
    const result = analyze(clean(), run, { ...allFinals(), checker: missed })
    expect(result.violations.filter((v) => v.clause === 'C8').map((v) => v.rule)).toEqual([
      'injected divergence not found by the checker',
      'injected divergence found but not repaired',
      'injected divergence still there after the repair',
    ])
    expect(result.clauses.find((c) => c.clause === 'C8')).toMatchObject({ verdict: 'fail', violations: 3 })
  })

  it('fails C5, C6 and C7 from the final state', () => {
    const broken = { ...invariants, lostEffects: 2, nonTerminalSagas: 1, searchRevived: 1 }
    const result = analyze(clean(), run, { ...allFinals(), invariants: broken })
    const verdict = (c: string) => result.clauses.find((k) => k.clause === c)!.verdict
    expect([verdict('C5'), verdict('C6'), verdict('C7')]).toEqual(['fail', 'fail', 'fail'])
  })

  it('renders the table and an HTML page with the plot and the fault window shaded', () => {
    const result = analyze(sample(), run, allFinals())
    const table = renderTable(result)
    expect(table).toContain('staleness age (ms)')
    expect(table).toContain('FAIL: C1 violated')
    const html = renderHtml(result, table)
    expect(html).toContain('<svg')
    expect(html).toMatch(/<rect [^>]*opacity="0.18"><title>redis-restart<\/title>/)
    expect(html.match(/<circle /g)?.length).toBeGreaterThanOrEqual(3)
  })
})
