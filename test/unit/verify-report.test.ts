import { describe, expect, it } from 'vitest'
import { analyze } from '../../scripts/verify/analyze.js'
import { History, type Op } from '../../scripts/verify/history.js'
import { renderHtml } from '../../scripts/verify/html.js'
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
  history.ops.push(
    op({ kind: 'write', client: 1, instance: 'product-1', version: 2, invoke: 1000, ack: 1010 }),
    op({ client: 2, instance: 'product-2', version: 1, invoke: 1015, ack: 1016 }),
    op({ client: 1, instance: 'product-1', version: 1, invoke: 1020, ack: 1021 }),
  )
  history.faults.push({ fault: 'redis-restart', start: 5000, end: 8000, note: 'SIGKILL' })
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

describe('verify report', () => {
  const run = { durationS: 10, faults: ['redis-restart'], seed: 1, clients: 2, instances: 2 }

  it('lists C1 violations and keeps a tolerated cross-instance stale read out of them', () => {
    const result = analyze(sample(), run, undefined)
    expect(result.stale.total).toBe(2)
    expect(result.ryw).toBe(1)
    expect(result.stale.agePerPath['cross-instance']).toMatchObject({ count: 1, max: 5 })
    expect(result.violations.map((v) => v.rule)).toEqual([
      'C1 read-your-writes (own write, same instance)',
      'C1 stale read on the writing instance',
    ])
    expect(result.convergence.within['100ms']).toBe(1)
  })

  it('renders the table and an HTML page with the plot and the fault window shaded', () => {
    const result = analyze(sample(), run, undefined)
    const table = renderTable(result)
    expect(table).toContain('staleness age (ms)')
    expect(table).toContain('FAIL: 2 rule(s) broken')
    const html = renderHtml(result, table)
    expect(html).toContain('<svg')
    expect(html).toMatch(/<rect [^>]*opacity="0.18"><title>redis-restart<\/title>/)
    expect(html.match(/<circle /g)?.length).toBeGreaterThanOrEqual(3)
  })
})
