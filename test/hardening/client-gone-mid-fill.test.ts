// The client of a cache fill disconnects mid-body. When it wanted the whole
// blob (it will resume), the fill reads on at the upstream's pace, commits
// the verified blob, and closes everything; the next pull is a hit. When it
// wanted a closed range and left early, nobody else following, the fill is
// dropped: a small request does not buy the whole blob's transfer
// (docs/security.md, "Small requests, big work").
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { waitFor } from '../fixtures/wait.js'

t.test('client of a whole pull gone mid-fill: it carries on and commits', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 8 * 1024 * 1024 }, { times: 1 })
  const o = await h.get(h.blobPath, { abortAfterBytes: 512 * 1024 })
  t.equal(o.status, 200)
  t.notOk(o.complete)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 5000)
  t.ok(h.proxy.deps.cache?.cached(h.digest), 'the fill committed without its client')
  await h.assertClean(t)
  const cdn = h.reg.count('cdn', 'GET')
  await h.assertRecovers(t, 'a hit')
  t.equal(h.reg.count('cdn', 'GET'), cdn, 'no second download')
})

t.test('client of a closed range gone early in the fill: it is dropped, nothing cached, the upstream let go', async (t) => {
  // An upstream that ignores Range: the range is cut from the whole blob's fill.
  // (One that honours it answers the range itself, and no fill starts for a
  // range from byte 0: cold-range.test.ts.)
  const h = await startHarness(t, { cache: true, blobSize: 8 * 1024 * 1024, registry: { ranges: false } })
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 4 * 1024 * 1024 }, { times: 1 })
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=0-2097151' }, abortAfterBytes: 256 * 1024 })
  t.equal(o.status, 206)
  t.notOk(o.complete)
  await h.assertClean(t)
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  t.ok(h.reg.bodyBytesSent.cdn < 6 * 1024 * 1024, `the upstream was let go early (${h.reg.bodyBytesSent.cdn} bytes sent)`)
  t.match(await (await fetch(`${h.proxy.url}/metrics`)).text(), /crproxy_cache_fills_client_gone_total\{outcome="dropped"\} 1/)
  await h.assertRecovers(t)
})

t.test('client gone mid-fill, upstream then dies: nothing committed, nothing left', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
  h.reg.fault('cdn', { kind: 'reset-body', after: 2 * 1024 * 1024 }, { times: 1 })
  const o = await h.get(h.blobPath, { abortAfterBytes: 256 * 1024 })
  t.notOk(o.complete)
  await h.assertClean(t)
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined)
  await h.assertRecovers(t)
})
