import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type VerifyResult, verdictLine } from './analyze.js'
import { renderHtml } from './html.js'
import type { Summary } from './stats.js'

const ms = (v?: number) => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(0))
const pct = (v: number) => `${(v * 100).toFixed(3)}%`
const row = (cells: string[], widths: number[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')

function summaryRow(name: string, s: Summary & { never?: number }): string[] {
  return [name, String(s.count), ms(s.p50), ms(s.p99), ms(s.p999), ms(s.max), s.never ? String(s.never) : '']
}

/** The terminal table: counts, violations, staleness per path, convergence, heals, final state. */
export function renderTable(r: VerifyResult): string {
  const lines: string[] = []
  const c = r.counts
  lines.push(
    `concord verify: ${r.run.durationS} s, faults [${r.run.faults.join(', ') || 'none'}], seed ${r.run.seed}, ` +
      `${r.run.clients} clients, ${r.run.instances} instances per service`,
  )
  if (r.run.loadS !== undefined && r.run.loadS > r.run.durationS + 0.5)
    lines.push(`load ran ${r.run.loadS.toFixed(1)} s: extended so every fault listed was injected and healed`)
  lines.push(
    `ops: ${c.reads} reads (${Object.entries(c.readSources)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ', ',
      )}), ${c.writes} writes, ${c.inserts} inserts, ${c.deletes} deletes, ${c.failed} failed; ${c.qualifyingReads} qualifying reads (${c.qualifyingPerS ?? '?'}/s; ${c.qualifyingFaultFree} outside faults)`,
  )
  lines.push('')
  const w = [34, 8, 9, 9, 9, 9, 6]
  lines.push(row(['staleness age (ms)', 'count', 'p50', 'p99', 'p99.9', 'max', 'never'], w))
  for (const [path, s] of Object.entries(r.stale.agePerPath)) lines.push(row(summaryRow(path, s), w))
  lines.push('')
  lines.push(row(['convergence per copy (ms)', 'count', 'p50', 'p99', 'p99.9', 'max', 'never'], w))
  for (const [path, s] of Object.entries(r.convergence.perPath)) lines.push(row(summaryRow(path, s), w))
  const within = r.convergence.within
  lines.push(
    `writes probed: ${r.convergence.writes}; converged everywhere within 0.1 s ${pct(within['100ms'])}, ` +
      `1 s ${pct(within['1s'])}, 10 s ${pct(within['10s'])}`,
  )
  lines.push(row(summaryRow('after heals', r.heals), w))
  for (const f of r.faults) {
    const heal = r.heals.perFault.find((h) => h.endS === f.endS)
    lines.push(
      `  ${f.fault.padEnd(14)} ${f.startS.toFixed(1)}-${f.endS.toFixed(1)} s ${f.target ?? ''} ${f.note ?? ''}` +
        (heal ? ` (converged ${ms(heal.ms)} ms after heal)` : ''),
    )
  }
  lines.push('')
  lines.push(
    `stale reads: ${r.stale.total} (under faults ${r.stale.underFault}); beyond bound outside faults ` +
      `${r.stale.beyondBoundFaultFree} of ${c.qualifyingFaultFree} (rate ${r.stale.rateFaultFree.toExponential(2)}, ` +
      `95% upper bound ${r.stale.rateUpper95.toExponential(2)})`,
  )
  lines.push(
    `C3: stale sets ${r.c3.staleSets}; after quiescence ${r.c3.quiescence ? `${r.c3.quiescence.behind.length} of ${r.c3.quiescence.held} cached copies behind (${r.c3.quiescence.keys} products)` : 'not checked'}`,
  )
  lines.push(
    `C4: ${r.c4.replicaFills} replica fills; without LSN ${r.c4.withoutLsn}, behind an acknowledged write ${r.c4.behind}` +
      ` (under L2 faults ${r.c4.behindUnderFault})`,
  )
  const c8 = r.c8
  lines.push(
    c8
      ? `C8: ${c8.injected.length} divergences injected (${c8.injected.map((i) => `${i.copy} #${i.key}`).join(', ')}); ` +
          `found ${c8.found}, repaired ${c8.repaired}, still there ${c8.stillThere}, others ${c8.extra}; ` +
          `pass over ${c8.keys} keys in ${c8.durationMs} ms (schedule ${c8.scheduleMs / 1000} s)`
      : 'C8: not checked',
  )
  lines.push(
    `read-your-writes violations: ${r.ryw}; monotonic violations: per instance ${r.monotonic.instance}, ` +
      `per client+instance ${r.monotonic.clientInstance}; client across instances ${r.monotonic.clientCrossInstance} (allowed within C2)`,
  )
  const inv = r.invariants
  if (inv) {
    lines.push(
      `orders: ${inv.orders.placed} placed, ${inv.orders.confirmed} confirmed, ${inv.orders.cancelled} cancelled, ` +
        `${inv.nonTerminalOrders} pending; sagas ${JSON.stringify(inv.sagas)}; lost effects ${inv.lostEffects}, ` +
        `duplicated ${inv.duplicatedEffects}, ack mismatches ${inv.ackMismatches}, search behind ${inv.projectionBehind} ` +
        `(settled in ${inv.settledAfterMs} ms)`,
    )
  }
  lines.push('')
  lines.push('targets (reported; the exit status follows the clauses below):')
  for (const t of r.targets) {
    const mark = t.met === undefined ? 'n/a ' : t.met ? 'met ' : 'MISS'
    lines.push(`  [${mark}] ${t.target}: ${t.measured}`)
  }
  lines.push('')
  lines.push('contract:')
  for (const k of r.clauses) {
    const mark = k.verdict === 'pass' ? 'PASS' : k.verdict === 'fail' ? 'FAIL' : 'SKIP'
    lines.push(
      `  ${k.clause} ${mark} ${String(k.violations).padStart(5)} violations  ${k.name} (${k.checked})`,
    )
  }
  lines.push(verdictLine(r))
  for (const v of r.violations)
    lines.push(`  ${v.clause} ${v.rule}: ${v.count}${v.example ? `  e.g. ${v.example}` : ''}`)
  return lines.join('\n')
}

/** Writes `verify-report.json` and `verify-report.html` into `dir`; returns their paths. */
export function writeReports(dir: string, r: VerifyResult): { json: string; html: string } {
  mkdirSync(dir, { recursive: true })
  const json = join(dir, 'verify-report.json')
  const html = join(dir, 'verify-report.html')
  writeFileSync(json, `${JSON.stringify(r, null, 2)}\n`)
  writeFileSync(html, renderHtml(r, renderTable(r)))
  return { json, html }
}
