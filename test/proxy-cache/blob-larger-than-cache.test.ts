// A blob larger than --cache-max-size is served whole from the upstream and
// said so: the request line says source=upstream, an info line gives the
// reason, its bytes count as served from the upstream, and it is not counted
// as a cache miss (nothing was going to be cached). A blob that fits is a
// miss and a fill, as before.
import t from 'tap'
import { createLogger } from '../../lib/log.js'
import { startHarness } from '../hardening/fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{'))
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0
}

t.test('a blob larger than --cache-max-size: source=upstream, reason at info, counted as upstream bytes, not a miss', async (t) => {
  const lines: string[] = []
  const log = createLogger({ level: 'info', write: (l) => lines.push(l) })
  const h = await startHarness(t, { cache: true, blobSize: 512 * 1024, proxy: { cacheMaxSize: 256 * 1024, log } })
  // The harness warmed up with a small blob: count from here.
  const m0 = h.proxy.deps.metrics.render()
  const misses0 = metric(m0, 'crproxy_cache_misses_total')
  const up0 = metric(m0, 'crproxy_cache_bytes_served_total{source="upstream"}')
  const o = await h.get(h.blobPath)
  t.ok(o.status === 200 && o.complete && sha256(o.body) === h.digest, 'served whole, verified')
  await new Promise((r) => setTimeout(r, 100))
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'not cached')

  const request = lines.find((l) => / request /.test(l) && l.includes(h.digest))
  t.match(request, /status=200 .*source=upstream/, 'the request line says it came from the upstream')
  t.notMatch(request, /source=fill/)
  const why = lines.find((l) => /blob not cached/.test(l))
  t.match(why, new RegExp(`^\\S+ INFO  blob not cached: served from the upstream .*digest=${h.digest} .*size=524288 .*reason=larger_than_cache_max_size`))

  const m = h.proxy.deps.metrics.render()
  t.equal(metric(m, 'crproxy_cache_misses_total'), misses0, 'not a cache miss')
  t.equal(metric(m, 'crproxy_cache_uncached_total{reason="larger_than_cache_max_size"}'), 1, 'counted as not cached, with the reason')
  t.equal(metric(m, 'crproxy_cache_bytes_served_total{source="upstream"}'), up0 + 512 * 1024, 'its bytes count as served from the upstream')

  const small = h.addBlob(64 * 1024)
  const s = await h.get(small.path)
  t.ok(s.status === 200 && sha256(s.body) === small.digest)
  await new Promise((r) => setTimeout(r, 100))
  t.match(lines.filter((l) => / request /.test(l)).at(-1), /source=fill/, 'a blob that fits is a fill')
  const m2 = h.proxy.deps.metrics.render()
  t.equal(metric(m2, 'crproxy_cache_misses_total'), misses0 + 1, 'and a miss')
  t.equal(metric(m2, 'crproxy_cache_bytes_served_total{source="upstream"}'), up0 + 512 * 1024 + 64 * 1024)
  await h.assertClean(t)
})
