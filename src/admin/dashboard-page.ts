import { createHash } from 'node:crypto'
import { DASHBOARD_SCRIPT } from './dashboard-script.js'

const SCRIPT_HASH = `'sha256-${createHash('sha256').update(DASHBOARD_SCRIPT).digest('base64')}'`
const STYLE = `
:root { --bg:#f6f7f9; --card:#fff; --ink:#111827; --muted:#6b7280; --line:#e5e7eb; --bad:#dc2626; --ok:#16a34a }
* { box-sizing:border-box }
body { margin:0; font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink) }
header { display:flex; align-items:center; gap:16px; padding:12px 20px; background:#111827; color:#f9fafb }
header h1 { font-size:17px; margin:0; font-weight:600 }
header .spacer { flex:1 }
.live { display:flex; align-items:center; gap:6px; font-size:13px; color:#d1d5db }
.live::before { content:""; width:9px; height:9px; border-radius:50%; background:#9ca3af }
.live.up::before { background:#22c55e } .live.down::before { background:#ef4444 }
button { font:inherit; padding:5px 12px; border-radius:6px; border:1px solid #374151; background:#1f2937; color:#f9fafb; cursor:pointer }
button:disabled { opacity:.5 }
main { padding:16px 20px 28px; max-width:1400px; margin:0 auto }
.tiles { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:10px; margin-bottom:14px }
.tile { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:10px 12px }
.tile .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.03em }
.tile .num { font-size:24px; font-weight:600; font-variant-numeric:tabular-nums }
.tile.bad .num { color:var(--bad) }
.grid { display:grid; grid-template-columns:repeat(auto-fit,minmax(400px,1fr)); gap:14px }
.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:12px 14px; min-width:0 }
.card h2 { font-size:14px; margin:0 0 2px; font-weight:600 }
.card .unit { color:var(--muted); font-size:12px; font-weight:400 }
.legend { display:flex; flex-wrap:wrap; gap:12px; font-size:13px; margin:4px 0 }
.legend .key { display:inline-flex; align-items:center; gap:5px }
.legend i { width:10px; height:3px; display:inline-block; border-radius:2px }
.legend b { font-variant-numeric:tabular-nums }
.extra { color:var(--muted); font-size:12px }
svg { width:100%; height:auto; display:block }
svg .grid { stroke:var(--line); stroke-width:1 } svg .axis { fill:var(--muted); font-size:10px }
table { width:100%; border-collapse:collapse; font-size:13px; font-variant-numeric:tabular-nums }
th { white-space:nowrap; text-align:left; color:var(--muted); font-weight:500; border-bottom:1px solid var(--line); padding:4px 6px }
td { border-bottom:1px solid #f3f4f6; padding:4px 6px; white-space:nowrap }
.scroll { overflow-x:auto }
.grid.tables { margin-top:14px; grid-template-columns:repeat(auto-fit,minmax(520px,1fr)) }
tr.bad td { color:var(--bad) }
.muted { color:var(--muted) } #health { margin:0 0 12px; color:var(--muted) } #health.bad { color:var(--bad) }
h3 { font-size:14px; margin:18px 0 8px }
`

/** The dashboard page and its Content-Security-Policy (the inline script allowed by its hash, nothing else). */
export function dashboardPage(options: { title: string; pollMs: number; canRunCheck: boolean }): {
  html: string
  csp: string
} {
  const title = escapeHtml(options.title)
  const chart = (id: string, name: string, unit: string) => `
    <section class="card"><h2>${name} <span class="unit">${unit}</span></h2>
      <div class="legend" id="legend-${id}"></div><svg id="chart-${id}" viewBox="0 0 360 120" role="img" aria-label="${name}"></svg>
      <div class="extra" id="${id}-extra"></div></section>`
  const tile = (id: string, label: string, alert = false) =>
    `<div class="tile"${alert ? ' data-alert' : ''}><div class="label">${label}</div><div class="num" id="tile-${id}">—</div></div>`
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title} · consistency</title><style>${STYLE}</style></head>
<body data-poll-ms="${Math.max(100, Math.round(options.pollMs))}">
<header><h1>${title} · consistency</h1><span class="spacer"></span>
  <span class="live" id="live"><span id="live-text">connecting…</span></span>
  ${options.canRunCheck ? '<button id="run-check" type="button">Run check now</button>' : ''}</header>
<main>
  <p id="health"></p>
  <div class="tiles">
    ${tile('l1', 'L1 hit rate')}${tile('l2', 'L2 hit rate')}${tile('lag', 'max replica lag')}
    ${tile('outbox', 'outbox pending')}${tile('dead', 'dead letters', true)}
    ${tile('inconsistent', 'inconsistent (last check)', true)}${tile('converged', 'converged ≤ 1 s')}
    ${tile('attention', 'sagas needing attention', true)}
  </div>
  <div class="grid">
    ${chart('hits', 'Cache hit rate', '% of reads, per second, all instances')}
    ${chart('lag', 'Replication lag', 'per replica')}
    ${chart('outbox', 'Outbox backlog', 'events not yet published, all shards')}
    ${chart('inconsistent', 'Inconsistencies', 'divergences found by the last checker run')}
    ${chart('staleness', 'Staleness', 'write-to-copy convergence p99 and bus delay p99')}
    ${chart('sagas', 'Sagas', 'running or compensating, and needing attention')}
  </div>
  <h3>Last consistency check</h3><p class="muted" id="check-summary">no run yet</p>
  <div class="card scroll" id="table-divergences"></div>
  <div class="grid tables">
    <section class="card"><h2>Replicas</h2><div class="scroll" id="table-replicas"></div></section>
    <section class="card"><h2>Outbox by shard</h2><div class="scroll" id="table-outbox"></div></section>
    <section class="card"><h2>Caches by instance</h2><div class="scroll" id="table-caches"></div></section>
    <section class="card"><h2>Sagas by state</h2><div class="scroll" id="table-sagas"></div></section>
    <section class="card"><h2>Convergence by path</h2><div class="scroll" id="table-paths"></div></section>
  </div>
</main>
<script>${DASHBOARD_SCRIPT}</script>
</body></html>`
  const csp = [
    "default-src 'none'",
    `script-src ${SCRIPT_HASH}`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  return { html, csp }
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}
