/**
 * The dashboard's browser script, inline in the page (no build step). It polls the status JSON with the token
 * from the page's URL (sent as a bearer header), keeps the last two minutes of each series, and redraws small
 * SVG line charts and tables. Everything from the server is inserted as text, never as HTML.
 */
export const DASHBOARD_SCRIPT = `
'use strict'
const POLL_MS = Number(document.body.dataset.pollMs) || 1000
const POINTS = 120
const token = new URLSearchParams(location.search).get('token') || ''
const headers = token ? { authorization: 'Bearer ' + token } : {}
// The API sits under the page's path (/admin/ or a prefix of it), also when the app serves the page at /admin.
const BASE = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/'
const series = {}
let previous = null

const $ = (id) => document.getElementById(id)
function h(tag, attrs, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v)
  for (const c of children.flat()) el.append(c instanceof Node ? c : document.createTextNode(c == null ? '' : String(c)))
  return el
}
const pct = (v) => (v == null ? '—' : (v * 100).toFixed(1) + '%')
const rate = (t) => (t.hits + t.misses === 0 ? '—' : pct(t.hitRate))
const int = (v) => (v == null ? '—' : Math.round(v).toLocaleString('en'))
function ms(v) {
  if (v == null) return '—'
  if (v === 0) return '0'
  if (v < 1) return v.toFixed(2) + ' ms'
  if (v < 1000) return Math.round(v) + ' ms'
  if (v < 60000) return (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s'
  return (v / 60000).toFixed(1) + ' min'
}
function push(name, value) {
  const list = (series[name] = series[name] || [])
  list.push(value == null || Number.isNaN(value) ? null : value)
  if (list.length > POINTS) list.shift()
}
function setText(id, text) {
  const el = $(id)
  if (el && el.textContent !== text) el.textContent = text
}

const COLORS = ['#2563eb', '#16a34a', '#d97706', '#dc2626', '#7c3aed', '#0891b2', '#db2777', '#65a30d']
function nice(max) {
  if (max <= 0) return 1
  const p = Math.pow(10, Math.floor(Math.log10(max)))
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p
  return 10 * p
}
function draw(id, lines, format, fixedMax) {
  const svg = $(id)
  if (!svg) return
  const W = 360, H = 120, L = 52, R = 6, T = 8, B = 18
  let max = fixedMax || 0
  if (!fixedMax) for (const l of lines) for (const v of series[l.key] || []) if (v != null && v > max) max = v
  max = fixedMax || nice(max * 1.1)
  const x = (i) => L + ((W - L - R) * i) / (POINTS - 1)
  const y = (v) => T + (H - T - B) * (1 - Math.min(v, max) / max)
  const ns = 'http://www.w3.org/2000/svg'
  const node = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag)
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v)
    if (text != null) el.textContent = text
    return el
  }
  svg.replaceChildren()
  for (const f of [0, 0.5, 1]) {
    const v = max * f
    svg.append(node('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }))
    svg.append(node('text', { x: L - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, format(v)))
  }
  svg.append(node('text', { x: L, y: H - 3, class: 'axis' }, '-2 min'))
  svg.append(node('text', { x: W - R, y: H - 3, class: 'axis', 'text-anchor': 'end' }, 'now'))
  lines.forEach((l, n) => {
    const data = series[l.key] || []
    const offset = POINTS - data.length
    const color = l.color || COLORS[n % COLORS.length]
    let d = ''
    data.forEach((v, i) => {
      if (v == null) return
      const lone = data[i - 1] == null && data[i + 1] == null
      if (lone) svg.append(node('circle', { cx: x(offset + i), cy: y(v), r: 2, fill: color }))
      d += (data[i - 1] == null ? 'M' : 'L') + x(offset + i).toFixed(1) + ' ' + y(v).toFixed(1)
    })
    svg.append(node('path', { d, fill: 'none', stroke: color, 'stroke-width': 1.8, 'stroke-linejoin': 'round' }))
  })
}
function legend(id, lines) {
  const el = $(id)
  if (!el) return
  el.replaceChildren(
    ...lines.map((l, n) =>
      h('span', { class: 'key' }, h('i', { style: 'background:' + (l.color || COLORS[n % COLORS.length]) }), l.label + ' ', h('b', { 'data-testid': l.testid || '' }, l.value)),
    ),
  )
}
function table(id, head, rows, empty) {
  const el = $(id)
  if (!el) return
  if (!rows || rows.length === 0) return el.replaceChildren(h('p', { class: 'muted' }, empty || 'nothing to show'))
  el.replaceChildren(h('table', {}, h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))), h('tbody', {}, rows.map((r) => h('tr', { class: r.cls || '' }, r.cells.map((c) => h('td', {}, c)))))))
}

function windowRate(s, tier) {
  let hits = 0, misses = 0
  for (const c of s.caches || []) { hits += c[tier].hits; misses += c[tier].misses }
  const prev = previous && previous[tier]
  const rate = prev && hits + misses - prev.total > 0 ? (hits - prev.hits) / (hits + misses - prev.total) : null
  return { rate, now: { hits, total: hits + misses } }
}

function render(s) {
  const l1 = windowRate(s, 'l1')
  const l2 = windowRate(s, 'l2')
  previous = { l1: l1.now, l2: l2.now }
  push('l1', l1.rate); push('l2', l2.rate)
  const lags = s.replicationLag || []
  for (const r of lags) push('lag:' + r.shard + '/' + r.replica, r.lagSeconds == null ? null : r.lagSeconds * 1000)
  push('outbox', s.pendingOutboxEvents)
  push('inconsistent', s.lastInconsistencyCount)
  const conv = s.convergence
  const p99 = conv && conv.paths.length ? Math.max(...conv.paths.map((p) => p.p99Ms)) : null
  const bus = s.bus && s.bus.members.length ? Math.max(...s.bus.members.map((m) => m.lagMsP99)) : null
  push('convergence', p99); push('bus', bus)
  const sagas = s.sagas || null
  push('sagas-flight', sagas ? (sagas.RUNNING || 0) + (sagas.COMPENSATING || 0) : null)
  push('sagas-attention', sagas ? sagas.NEEDS_ATTENTION || 0 : null)

  setText('tile-l1', pct(l1.rate == null ? s.l1HitRate : l1.rate))
  setText('tile-l2', pct(l2.rate == null ? s.l2HitRate : l2.rate))
  setText('tile-lag', s.maxReplicationLagSeconds == null ? '—' : ms(s.maxReplicationLagSeconds * 1000))
  setText('tile-outbox', int(s.pendingOutboxEvents))
  setText('tile-dead', int(s.deadLetters))
  setText('tile-inconsistent', int(s.lastInconsistencyCount))
  setText('tile-converged', conv ? pct(conv.convergedWithin1sShare) : '—')
  setText('tile-attention', s.sagas ? int(s.sagas.NEEDS_ATTENTION || 0) : '—')
  document.querySelectorAll('[data-alert]').forEach((el) => {
    const v = Number((el.querySelector('.num') || {}).textContent)
    el.classList.toggle('bad', Number.isFinite(v) && v > 0)
  })

  const idle = (w) => (w.rate == null ? 'idle' : pct(w.rate))
  const hit = [
    { key: 'l1', label: 'L1', value: idle(l1), testid: 'l1-hit-rate' },
    { key: 'l2', label: 'L2', value: idle(l2), testid: 'l2-hit-rate' },
  ]
  draw('chart-hits', hit, (v) => Math.round(v * 100) + '%', 1); legend('legend-hits', hit)
  const lagLines = lags.map((r) => ({ key: 'lag:' + r.shard + '/' + r.replica, label: 'shard ' + r.shard + ' r' + r.replica, value: r.lagSeconds == null ? '—' : ms(r.lagSeconds * 1000) }))
  draw('chart-lag', lagLines, ms); legend('legend-lag', lagLines.length ? lagLines : [{ key: 'none', label: 'no replicas', value: '' }])
  const ob = [{ key: 'outbox', label: 'pending', value: int(s.pendingOutboxEvents), testid: 'outbox-pending' }]
  draw('chart-outbox', ob, int); legend('legend-outbox', ob)
  setText('outbox-extra', 'oldest ' + ms(s.oldestOutboxAgeMs) + ' · dead letters ' + int(s.deadLetters))
  const inc = [{ key: 'inconsistent', label: 'last run', value: int(s.lastInconsistencyCount), color: '#dc2626', testid: 'last-inconsistent' }]
  draw('chart-inconsistent', inc, int); legend('legend-inconsistent', inc)
  const totals = s.checker && s.checker.totals
  setText('inconsistent-extra', totals ? 'runs ' + int(totals.runs) + ' · found ' + int(totals.inconsistent) + ' · repaired ' + int(totals.repaired) + ' · checked ' + int(totals.checked) : 'checker not wired')
  const st = [
    { key: 'convergence', label: 'convergence p99', value: ms(p99), testid: 'convergence-p99' },
    { key: 'bus', label: 'bus lag p99', value: ms(bus) },
  ]
  draw('chart-staleness', st, ms); legend('legend-staleness', st)
  setText('staleness-extra', conv ? 'within 1 s: ' + pct(conv.convergedWithin1sShare) + ' · traced ' + int(conv.traced) + ' · violations ' + int(conv.violations) : 'tracer not wired')

  const sg = [
    { key: 'sagas-flight', label: 'in flight', value: sagas ? int((sagas.RUNNING || 0) + (sagas.COMPENSATING || 0)) : '—' },
    { key: 'sagas-attention', label: 'needing attention', value: sagas ? int(sagas.NEEDS_ATTENTION || 0) : '—', color: '#dc2626' },
  ]
  draw('chart-sagas', sg, int); legend('legend-sagas', sg)
  setText('sagas-extra', sagas ? 'completed ' + int(sagas.COMPLETED || 0) + ' · compensated ' + int(sagas.COMPENSATED || 0) : 'sagas not wired')
  table('table-replicas', ['shard', 'replica', 'lag', 'bytes', 'state'], lags.map((r) => ({ cls: r.healthy ? '' : 'bad', cells: [r.shard, r.name, r.lagSeconds == null ? '—' : ms(r.lagSeconds * 1000), int(r.lagBytes), r.healthy ? 'healthy' : r.lastError || 'unhealthy'] })), 'no replicas')
  table('table-outbox', ['shard', 'pending', 'retrying', 'dead', 'oldest'], (s.outbox || []).map((o) => ({ cls: o.deadLetters > 0 ? 'bad' : '', cells: [o.shard, int(o.pending), int(o.retrying), int(o.deadLetters), ms(o.oldestAgeMs)] })), 'outbox not wired')
  table('table-caches', ['cache', 'instance', 'L1 hit', 'L2 hit', 'L1 size', 'circuit', 'bus'], (s.caches || []).map((c, i) => {
    const m = s.bus && s.bus.members[i]
    return { cls: m && !m.healthy ? 'bad' : '', cells: [c.name, c.instance, c.l1.enabled ? rate(c.l1) : 'off', rate(c.l2), int(c.l1.size), c.l2.circuit, m ? (m.healthy ? 'healthy' : 'unhealthy') : '—'] }
  }), 'caches not wired')
  table('table-sagas', ['state', 'sagas'], Object.entries(s.sagas || {}).map(([k, v]) => ({ cls: k === 'NEEDS_ATTENTION' && v > 0 ? 'bad' : '', cells: [k, int(v)] })), 'sagas not wired')
  const last = s.checker && s.checker.last
  setText('check-summary', last ? 'run #' + last.id + ' (' + last.trigger + ') at ' + new Date(last.startedAt).toLocaleTimeString() + ': ' + int(last.keys) + ' keys, ' + int(last.checked) + ' comparisons, ' + int(last.inconsistent) + ' inconsistent, ' + int(last.repaired) + ' repaired, ' + int(last.errors) + ' errors in ' + ms(last.durationMs) : 'no run yet')
  table('table-divergences', ['data set', 'copy', 'key', 'kind', 'versions', 'fields', 'repaired'], last ? last.divergences.map((d) => ({ cls: d.repaired ? '' : 'bad', cells: [d.comparator, d.copy, d.key, d.kind, (d.sourceVersion || '—') + ' / ' + (d.copyVersion || '—'), (d.fields || []).join(', '), d.repaired ? 'yes' : d.unrepairedReason] })) : [], 'no divergence in the last run')
  table('table-paths', ['path', 'converged', 'violations', '≤ 1 s', 'p50', 'p99', 'max'], conv ? conv.paths.map((p) => ({ cls: p.violations > 0 ? 'bad' : '', cells: [p.path, int(p.converged), int(p.violations), pct(p.within1sShare), ms(p.p50Ms), ms(p.p99Ms), ms(p.maxMs)] })) : [], 'tracer not wired')
  const health = []
  if (s.bus) health.push('bus ' + (s.bus.healthy ? 'healthy' : 'UNHEALTHY'))
  if (s.broker) health.push('broker ' + (s.broker.connected ? 'connected' : 'DISCONNECTED'))
  for (const [k, v] of Object.entries(s.errors || {})) health.push(k + ': ' + v)
  setText('health', health.join(' · ') || '')
  $('health').classList.toggle('bad', Object.keys(s.errors || {}).length > 0 || (s.bus && !s.bus.healthy) || (s.broker && !s.broker.connected) || false)
}

function state(kind, text) {
  $('live').className = 'live ' + kind
  setText('live-text', text)
}
async function poll() {
  try {
    const response = await fetch(BASE + 'consistency/status', { headers, cache: 'no-store' })
    if (response.status === 401) return state('down', 'token rejected: open the URL with ?token=')
    if (!response.ok) throw new Error('HTTP ' + response.status)
    render(await response.json())
    state('up', 'live · updated ' + new Date().toLocaleTimeString())
  } catch (error) {
    state('down', 'no answer (' + error.message + '), retrying')
  } finally {
    setTimeout(poll, POLL_MS)
  }
}
const run = $('run-check')
if (run) run.addEventListener('click', async () => {
  run.disabled = true
  try {
    const response = await fetch(BASE + 'consistency/check', { method: 'POST', headers })
    if (!response.ok) throw new Error('HTTP ' + response.status)
  } catch (error) {
    setText('check-summary', 'run failed: ' + error.message)
  } finally {
    run.disabled = false
  }
})
poll()
`
