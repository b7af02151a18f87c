// --max-upstream-inflight: with the upstream slow and the bound reached, a
// further request that needs the upstream gets 503 UNAVAILABLE with
// Retry-After at once (not a queue that grows without end); requests that
// need no upstream (/healthz, cache hits) are still served; once the slow
// requests finish, upstream requests work again.
import t from 'tap'
import { isRegistryError, startHarness } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

t.test('in-flight upstream bound', async (t) => {
  const h = await startHarness(t, { cache: true, proxy: { maxUpstreamInflight: 3 } })
  // A cached blob, for a hit while the upstream is saturated.
  const cached = h.addBlob(128 * 1024)
  t.equal((await h.get(cached.path)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(cached.digest), (v) => v !== undefined, 2000)

  h.reg.fault('registry', { kind: 'delay', ms: 1000 }, { path: /manifests/ })
  h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2 })
  const slow = [1, 2, 3].map(() => h.get(`/v2/${h.repo}/manifests/v1`))
  await waitFor(() => h.reg.count('registry', 'GET', /manifests/), (n) => n >= 3, 2000)
  const started = Date.now()
  const over = await h.get(h.blobPath)
  t.equal(over.status, 503, 'the fourth upstream request is refused')
  t.ok(Date.now() - started < 500, 'at once')
  t.ok(isRegistryError(over) && /UNAVAILABLE/.test(over.body.toString()), 'UNAVAILABLE')
  t.equal(over.headers['retry-after'], '1', 'with Retry-After')
  t.equal((await h.get('/healthz')).status, 200, '/healthz is served')
  const hit = await h.get(cached.path)
  t.ok(hit.status === 200 && sha256(hit.body) === cached.digest, 'a cache hit is served')
  for (const r of await Promise.all(slow)) t.equal(r.status, 200, 'the slow requests complete')
  h.reg.clearFaults()
  await h.assertClean(t)
  await h.assertRecovers(t)
})
