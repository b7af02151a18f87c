// The client of a cache fill disconnects mid-body: the fill reads on at the
// upstream's pace, commits the verified blob, and closes everything; the
// next pull is a hit.
import t from 'tap'
import { startHarness, waitFor } from './fixtures/harness.js'

t.test('client gone mid-fill', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 8 * 1024 * 1024 }, { times: 1 })
  const o = await h.get(h.blobPath, { abortAfterBytes: 512 * 1024 })
  t.equal(o.status, 200)
  t.notOk(o.complete)
  await waitFor(() => h.proxy.deps.cache?.lookup(h.digest), (v) => v !== undefined, 5000)
  t.ok(h.proxy.deps.cache?.lookup(h.digest), 'the fill committed without its client')
  await h.assertClean(t)
  const cdn = h.reg.count('cdn', 'GET')
  await h.assertRecovers(t, 'a hit')
  t.equal(h.reg.count('cdn', 'GET'), cdn, 'no second download')
})

t.test('client gone mid-fill, upstream then dies: nothing committed, nothing left', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
  h.reg.fault('cdn', { kind: 'reset-body', after: 2 * 1024 * 1024 }, { times: 1 })
  const o = await h.get(h.blobPath, { abortAfterBytes: 256 * 1024 })
  t.notOk(o.complete)
  await h.assertClean(t)
  t.equal(h.proxy.deps.cache?.lookup(h.digest), undefined)
  await h.assertRecovers(t)
})
