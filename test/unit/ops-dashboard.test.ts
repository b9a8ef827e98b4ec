import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, it } from 'vitest'
import { createAdminHandler } from '../../src/admin/index.js'
import { createCache } from '../../src/cache/index.js'
import { createMemoryBus, createMemoryTier } from '../../src/memory/index.js'
import { checkerMetrics, registerCacheMetrics, tracerMetrics } from '../../src/prometheus/index.js'

// ops/ names concord's metrics by hand (the Grafana dashboard's queries, the alert rules' expressions). A metric
// renamed or dropped in the code must fail here, not leave an empty panel or an alert that never fires.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const dashboard = JSON.parse(readFileSync(join(root, 'ops/grafana/concord.json'), 'utf8')) as Dashboard
const rules = readFileSync(join(root, 'ops/prometheus/concord-rules.yml'), 'utf8')

interface Target {
  expr: string
}
interface Panel {
  type: string
  title: string
  targets?: Target[]
  panels?: Panel[]
}
interface Dashboard {
  panels: Panel[]
  templating: { list: { name: string; query?: unknown }[] }
}

const l2 = createMemoryTier()
const bus = createMemoryBus()
const cache = createCache({ name: 'products', instanceId: 'a', l2, bus })
afterAll(() => cache.close())

/** Every metric concord registers: each concord/prometheus family and the admin's status gauges. */
async function registeredNames(): Promise<Set<string>> {
  const registry = new Registry()
  registerCacheMetrics(registry, cache)
  checkerMetrics(registry)
  tracerMetrics(registry)
  createAdminHandler({ token: 'ops-dashboard-token-0123', registry, sources: {} })
  const names = new Set<string>()
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name)
    if (String(m.type) === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${m.name}${suffix}`)
    }
  }
  return names
}

/** The concord metric names a PromQL expression mentions. */
const metricsIn = (expr: string) => [...expr.matchAll(/\bconcord_[a-z0-9_]+/g)].map((m) => m[0])

const flatten = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...flatten(p.panels ?? [])])

describe('ops/grafana/concord.json', () => {
  it('queries only metrics concord registers, in every panel', async () => {
    const names = await registeredNames()
    const graphs = flatten(dashboard.panels).filter((p) => p.type !== 'row')
    expect(graphs.length).toBeGreaterThan(15)
    const unknown: string[] = []
    for (const panel of graphs) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0)
      for (const target of panel.targets ?? []) {
        const used = metricsIn(target.expr)
        expect(used.length, `${panel.title}: ${target.expr}`).toBeGreaterThan(0)
        for (const name of used) if (!names.has(name)) unknown.push(`${panel.title}: ${name}`)
      }
    }
    expect(unknown).toEqual([])
  })

  it('shows every metric concord registers somewhere', async () => {
    const names = await registeredNames()
    const used = new Set(
      flatten(dashboard.panels).flatMap((p) => (p.targets ?? []).flatMap((t) => metricsIn(t.expr))),
    )
    const base = (n: string) => n.replace(/_(bucket|sum|count)$/, '')
    const shown = new Set([...used].map(base))
    const missing = [...names].filter((n) => !/_(bucket|sum|count)$/.test(n) && !shown.has(n))
    expect(missing).toEqual([])
  })

  it('fails on a panel naming a metric that does not exist', async () => {
    const names = await registeredNames()
    expect(metricsIn('rate(concord_outbox_published_total[5m])').filter((n) => !names.has(n))).toEqual([
      'concord_outbox_published_total',
    ])
  })
})

describe('ops/prometheus/concord-rules.yml', () => {
  it('alerts only on metrics concord registers', async () => {
    const names = await registeredNames()
    const live = rules
      .split('\n')
      .filter((line) => !line.trim().startsWith('#'))
      .join('\n')
    const used = metricsIn(live)
    expect(new Set(used).size).toBeGreaterThan(8)
    expect(used.filter((n) => !names.has(n))).toEqual([])
  })
})
