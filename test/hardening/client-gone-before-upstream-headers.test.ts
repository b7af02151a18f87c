// The client disconnects while the proxy waits for the upstream's response
// headers. Uncached, the upstream request is aborted with it (its socket is
// closed, not left waiting); for a cache fill the fill carries on (others may
// want the blob) and commits; nothing is left open either way.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { waitFor } from '../fixtures/wait.js'

t.test('uncached blob: the upstream request is aborted', async (t) => {
  const h = await startHarness(t, {})
  h.reg.fault('registry', { kind: 'stall-headers' }, { path: /blobs/, times: 1 })
  const o = await h.get(h.blobPath, { abortAfterMs: 200 })
  t.equal(o.status, null, 'no response yet when the client left')
  await waitFor(() => h.reg.openSockets('registry'), (n) => n === 0, 2000)
  t.equal(h.reg.openSockets('registry'), 0, 'the waiting upstream socket was closed')
  await h.assertClean(t)
  await h.assertRecovers(t)
})

t.test('manifest: the upstream request is aborted', async (t) => {
  const h = await startHarness(t, {})
  h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2 })
  h.reg.fault('registry', { kind: 'stall-headers' }, { path: /manifests/, times: 1 })
  const o = await h.get(`/v2/${h.repo}/manifests/v1`, { abortAfterMs: 200 })
  t.equal(o.status, null)
  await waitFor(() => h.reg.openSockets('registry'), (n) => n === 0, 3000)
  t.equal(h.reg.openSockets('registry'), 0, 'the waiting upstream socket was closed')
  await h.assertClean(t)
})

t.test('cache fill: the fill carries on and commits', async (t) => {
  const h = await startHarness(t, { cache: true })
  h.reg.fault('registry', { kind: 'delay', ms: 500 }, { path: /blobs/, times: 1 })
  const o = await h.get(h.blobPath, { abortAfterMs: 100 })
  t.equal(o.status, null)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 5000)
  t.ok(h.proxy.deps.cache?.cached(h.digest), 'committed without a client')
  await h.assertClean(t)
  const cdn = h.reg.count('cdn', 'GET')
  await h.assertRecovers(t, 'served from the cache')
  t.equal(h.reg.count('cdn', 'GET'), cdn, 'no second download')
})
