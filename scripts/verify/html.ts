import { passed, type VerifyResult, verdictLine } from './analyze.js'

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

const COLORS: Record<string, string> = {
  'same-instance': '#d62728',
  'cross-instance': '#ff7f0e',
  convergence: '#1f77b4',
}

/**
 * An inline SVG: staleness (log scale, ms) over run time, one dot per stale read (by path) and per probed
 * write (its time to converge everywhere), with the fault windows shaded and labelled.
 */
export function stalenessSvg(r: VerifyResult, width = 900, height = 320): string {
  const pad = { left: 56, right: 16, top: 16, bottom: 36 }
  const endS = Math.max(r.run.durationS, ...r.series.map(([t]) => t), ...r.faults.map((f) => f.endS), 1)
  const minMs = 0.1
  const maxMs = Math.max(10_000, ...r.series.map(([, v]) => v))
  const x = (s: number) => pad.left + (s / endS) * (width - pad.left - pad.right)
  const y = (v: number) => {
    const lo = Math.log10(minMs)
    const hi = Math.log10(maxMs)
    const f = (Math.log10(Math.max(minMs, v)) - lo) / (hi - lo)
    return height - pad.bottom - f * (height - pad.top - pad.bottom)
  }
  const parts: string[] = []
  for (const [i, f] of r.faults.entries()) {
    parts.push(
      `<rect x="${x(f.startS)}" y="${pad.top}" width="${Math.max(1, x(f.endS) - x(f.startS))}" ` +
        `height="${height - pad.top - pad.bottom}" fill="#999" opacity="0.18"><title>${escapeHtml(f.fault)}</title></rect>`,
      // Alternate label rows so short neighbouring windows stay readable.
      `<text x="${x(f.startS) + 2}" y="${pad.top + 12 + (i % 2) * 12}" font-size="10">${escapeHtml(f.fault)}</text>`,
    )
  }
  for (const v of [0.1, 1, 10, 100, 1000, 10_000]) {
    parts.push(
      `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${pad.left - 6}" y="${y(v) + 3}" font-size="10" text-anchor="end">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`,
    )
  }
  const step = endS > 120 ? 30 : endS > 30 ? 10 : 5
  for (let s = 0; s <= endS; s += step) {
    parts.push(
      `<text x="${x(s)}" y="${height - pad.bottom + 14}" font-size="10" text-anchor="middle">${s} s</text>`,
    )
  }
  for (const [t, v, kind] of r.series) {
    parts.push(
      `<circle cx="${x(t).toFixed(1)}" cy="${y(v).toFixed(1)}" r="2.5" fill="${COLORS[kind] ?? '#333'}" opacity="0.7"/>`,
    )
  }
  const legend = Object.entries(COLORS)
    .map(
      ([k, c], i) =>
        `<circle cx="${pad.left + 10 + i * 210}" cy="${height - 8}" r="4" fill="${c}"/>` +
        `<text x="${pad.left + 18 + i * 210}" y="${height - 4}" font-size="11">${k === 'convergence' ? 'write converged everywhere' : `stale read, ${k}`}</text>`,
    )
    .join('')
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" ` +
    `aria-label="staleness over time">${parts.join('')}${legend}</svg>`
  )
}

/** The HTML report: the plot, the terminal table, the violations, and the raw JSON summary. */
export function renderHtml(r: VerifyResult, table: string): string {
  const { series: _series, ...summary } = r
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>concord verify report</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1000px}pre{background:#f6f6f6;padding:1rem;overflow:auto;font-size:12px}
.pass{color:#2a7d2a}.fail{color:#b00}</style></head><body>
<h1>concord verify</h1>
<p class="${passed(r) ? 'pass' : 'fail'}">${escapeHtml(verdictLine(r))}</p>
<h2>Staleness over time</h2>
${stalenessSvg(r)}
<h2>Summary</h2>
<pre>${escapeHtml(table)}</pre>
<h2>Violations</h2>
${r.violations.length ? `<ul>${r.violations.map((v) => `<li><b>${escapeHtml(v.rule)}</b>: ${v.count}${v.example ? ` &mdash; ${escapeHtml(v.example)}` : ''}</li>`).join('')}</ul>` : '<p>none</p>'}
<h2>Notes</h2>
<ul>${r.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
<h2>Data</h2>
<pre>${escapeHtml(JSON.stringify(summary, null, 2))}</pre>
</body></html>
`
}
