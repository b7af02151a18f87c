// The manifest figures at /metrics: cache hits, revalidations, upstream
// HEADs vs GETs, stale serves.
import t from 'tap'
import { PullClient } from '../fixtures/proxy.js'
import { ACCEPT_ALL, metric, setup } from './fixtures/setup.js'

t.test('manifest figures at /metrics', async (t) => {
  const { hub, proxy } = await setup(t, { staleIfError: 60_000 })
  const img = hub.images['library/alpine:3.19']!
  const c = new PullClient(proxy.url)
  await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL }) // 401 (HEAD, GET), then HEAD miss + GET
  await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL }) // HEAD hit
  await c.get(`/v2/library/alpine/manifests/${img.digest}`, { accept: ACCEPT_ALL }) // digest hit
  hub.faults.registryStatus = 503
  await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL }) // HEAD 503 → stale

  const m = (s: string) => metric(proxy, s)
  t.equal(await m('crproxy_manifest_cache_hits_total{reference="tag"}'), 1)
  t.equal(await m('crproxy_manifest_cache_hits_total{reference="digest"}'), 1)
  t.equal(await m('crproxy_manifest_cache_misses_total{reference="tag"}'), 1)
  t.equal(await m('crproxy_manifest_revalidations_total{result="hit"}'), 1)
  t.equal(await m('crproxy_manifest_revalidations_total{result="miss"}'), 1)
  t.equal(await m('crproxy_manifest_revalidations_total{result="refused"}'), 1)
  t.equal(await m('crproxy_manifest_revalidations_total{result="failed"}'), 1)
  t.equal(await m('crproxy_manifest_upstream_requests_total{method="HEAD"}'), 4)
  t.equal(await m('crproxy_manifest_upstream_requests_total{method="GET"}'), 2)
  t.equal(await m('crproxy_manifest_stale_served_total'), 1)
  t.equal(await m('crproxy_manifest_cache_stored_total'), 1)
  t.ok((await m('crproxy_manifest_cache_memory_bytes')) >= img.body.length)
})
