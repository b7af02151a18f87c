// deploy/grafana/crproxy-dashboard.json: it parses, and every query names
// metrics and labels that a running crproxy really exposes, read from its
// /metrics after skopeo pulled through it from docker-registry and one
// upstream refused to connect (so the failure series exist too).
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { request } from '../fixtures/proxy.js'
import { requireTools } from '../fixtures/real/available.js'
import { buildImage, pushImage, skopeo } from '../fixtures/real/images.js'
import { startRegistry } from '../fixtures/real/registry.js'

const file = fileURLToPath(new URL('../../deploy/grafana/crproxy-dashboard.json', import.meta.url))

interface Panel {
  type: string
  title: string
  targets?: Array<{ expr: string }>
  panels?: Panel[]
}

/** Every PromQL expression of the dashboard: panel targets and variable queries. */
function expressions(d: { panels: Panel[]; templating: { list: Array<{ query?: unknown }> } }): Array<[string, string]> {
  const out: Array<[string, string]> = []
  const walk = (ps: Panel[]) => {
    for (const p of ps) {
      for (const q of p.targets ?? []) out.push([p.title, q.expr])
      walk(p.panels ?? [])
    }
  }
  walk(d.panels)
  for (const v of d.templating.list) {
    const q = typeof v.query === 'object' && v.query !== null ? (v.query as { query: string }).query : undefined
    if (q) out.push([`variable ${q}`, q])
  }
  return out
}

/** Metric name → the label names its samples carry, from the exposition text. */
function exposed(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line)
    if (!m) continue
    const labels = out.get(m[1]!) ?? new Set<string>()
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(l[1]!)
    out.set(m[1]!, labels)
  }
  return out
}

/** Prometheus adds these at scrape time. */
const targetLabels = new Set(['instance', 'job'])

t.test('every dashboard query uses metrics and labels a running proxy exposes', requireTools(['docker-registry', 'skopeo']), async (t) => {
  const dashboard = JSON.parse(readFileSync(file, 'utf8'))
  const exprs = expressions(dashboard)
  t.ok(exprs.length >= 12, `${exprs.length} queries`)
  const titles = (dashboard.panels as Panel[]).map((p) => p.title).join(' | ')
  for (const want of [/hit ratio/i, /bytes saved/i, /latency/i, /errors/i, /cache fill/i, /fills in flight/i]) t.match(titles, want)

  const dir = t.testdir()
  const reg = await startRegistry({ dir: join(dir, 'registry') })
  t.teardown(() => reg.close())
  const img = buildImage(join(dir, 'oci'), { seed: 'grafana', layers: [16 * 1024] })
  await pushImage(img.dir, img.ref, `docker://${reg.host}/team/dash:1`)
  writeFileSync(join(dir, 'map.json'), JSON.stringify({ default: reg.url, down: 'http://127.0.0.1:1' }))
  const p = await startCliProxy(['--registry-map', join(dir, 'map.json'), '--cache-dir', join(dir, 'cache'), '--cache-max-size', '1GiB'])
  t.teardown(() => p.close())
  await skopeo(['copy', '--src-tls-verify=false', `docker://127.0.0.1:${p.port}/team/dash:1`, `dir:${join(dir, 'out')}`])
  t.equal((await request(p.url, '/v2/?ns=127.0.0.1:1')).status, 502, 'an upstream that refuses to connect')
  const metrics = exposed((await request(p.url, '/metrics')).body.toString())

  for (const [where, expr] of exprs) {
    const names = [...expr.matchAll(/\b(crproxy_[a-z0-9_]+)\b/g)].map((m) => m[1]!)
    t.ok(names.length > 0, `${where}: queries crproxy metrics`)
    for (const name of names) {
      const labels = metrics.get(name)
      if (!labels) {
        t.fail(`${where}: ${name} is not exposed`)
        continue
      }
      // Label matchers right after this name: name{a="x",b=~"y"}.
      for (const sel of expr.matchAll(new RegExp(`\\b${name}\\{([^}]*)\\}`, 'g'))) {
        for (const l of sel[1]!.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
          if (!targetLabels.has(l[1]!)) t.ok(labels.has(l[1]!), `${where}: ${name} has label ${l[1]}`)
        }
      }
    }
    // Grouping labels: carried by some metric of the expression (le by histogram buckets).
    for (const by of expr.matchAll(/\bby \(([^)]*)\)/g)) {
      for (const l of by[1]!.split(',').map((s) => s.trim())) {
        if (targetLabels.has(l)) continue
        t.ok(names.some((n) => metrics.get(n)?.has(l)), `${where}: grouped by ${l}, which its metrics carry`)
      }
    }
  }
})
