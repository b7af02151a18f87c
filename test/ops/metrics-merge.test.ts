// Adding up several processes' metrics (what --workers shows at /metrics):
// counters and histograms summed per label set, gauges summed or, for the
// shared cache directory, the largest; a stopped process's counts kept.
import t from 'tap'
import { Metrics } from '../../lib/metrics.js'
import { mergeSnapshots, renderSnapshot, total } from '../../lib/metrics-snapshot.js'
import { NodeView, type ProcessSnapshot } from '../../lib/status/node-view.js'

function process(hits: number, conns: number, cacheBytes: number, latency: number[]): Metrics {
  const m = new Metrics()
  m.counter('crproxy_cache_hits_total', 'hits').inc({}, hits)
  m.counter('crproxy_requests_total', 'reqs').inc({ upstream: 'a', status: '200' }, hits)
  m.gauge('crproxy_open_connections', 'open').set(conns)
  m.collected('crproxy_cache_bytes', 'bytes', () => cacheBytes, { aggregate: 'max' })
  const h = m.histogram('lat_seconds', 'lat', [0.1, 1])
  for (const v of latency) h.observe(v, { host: 'x' })
  return m
}

t.test('merge', async (t) => {
  const a = process(2, 1, 100, [0.05, 0.5])
  const b = process(3, 4, 120, [5])
  const m = mergeSnapshots([a.snapshot(), b.snapshot()])
  t.equal(total(m, 'crproxy_cache_hits_total'), 5)
  t.equal(total(m, 'crproxy_requests_total', { status: '200' }), 5)
  t.equal(total(m, 'crproxy_requests_total', { status: '404' }), 0)
  t.equal(total(m, 'crproxy_open_connections'), 5, 'per-process gauges add up')
  t.equal(total(m, 'crproxy_cache_bytes'), 120, 'the shared directory is not counted twice')
  const text = renderSnapshot(m)
  t.match(text, 'lat_seconds_bucket{host="x",le="0.1"} 1\nlat_seconds_bucket{host="x",le="1"} 2\nlat_seconds_bucket{host="x",le="+Inf"} 3\n')
  t.match(text, 'lat_seconds_count{host="x"} 3\n')
  t.equal(renderSnapshot(mergeSnapshots([a.snapshot()])), a.render(), 'one process renders as itself')
})

t.test('a process that stops keeps its counts, not its gauges', async (t) => {
  const snap = (m: Metrics): ProcessSnapshot => ({ startedAt: 1, metrics: m.snapshot(), upstreams: {}, repositories: [['r', 7]], fills: [] })
  let live = [snap(process(2, 1, 100, [])), snap(process(3, 1, 100, []))]
  const view = new NodeView(async () => live, 60_000)
  t.teardown(() => view.close())
  const before = await view.snapshot()
  t.equal(total(before.metrics, 'crproxy_cache_hits_total'), 5)
  view.retire(live[1]!)
  live = [live[0]!, { ...snap(process(0, 0, 100, [])), repositories: [] }] // its replacement starts from zero
  const after = await view.snapshot()
  t.equal(total(after.metrics, 'crproxy_cache_hits_total'), 5, 'no counter went backwards')
  t.equal(total(after.metrics, 'crproxy_open_connections'), 1, 'the stopped process has no connections')
  t.same(after.repositories, [['r', 14]])
})
