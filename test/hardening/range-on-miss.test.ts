// A Range request for a blob that is not cached, where the proxy ends up
// with the whole blob: an upstream that ignores Range (answers 200), or a
// `bytes=0-` (a whole pull in all but name). The range is cut from the whole
// blob as it is fetched and verified, never completed from unverified bytes:
// the slice's last byte comes only after the whole blob matched its digest
// (wrong bytes upstream: the range is cut), and the blob is cached for the
// next request. (A Range the upstream answers with 206 is passed on:
// cold-range.test.ts.)
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { waitFor } from '../fixtures/wait.js'

t.test('an upstream that ignores Range: ranges on a miss are cut from the verified whole', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024, registry: { ranges: false } })
  const size = h.blob.length
  const ranges: Array<[number, number]> = [
    [0, 99],
    [1024 * 1024, 2 * 1024 * 1024 - 1],
    [size - 500, size - 1],
    [size - 1, size - 1],
  ]
  const outs = await Promise.all(ranges.map(([a, b]) => h.get(h.blobPath, { headers: { range: `bytes=${a}-${b}` } })))
  outs.forEach((o, i) => {
    const [a, b] = ranges[i]!
    t.equal(o.status, 206, `bytes=${a}-${b}: 206`)
    t.equal(o.headers['content-range'], `bytes ${a}-${b}/${size}`)
    t.ok(o.complete && o.body.equals(h.blob.subarray(a, b + 1)), 'the right bytes')
  })
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  t.ok(h.proxy.deps.cache?.cached(h.digest), 'cached')
  const unsatisfiable = await h.get(h.addBlob(1000).path, { headers: { range: 'bytes=5000-' } })
  t.equal(unsatisfiable.status, 416, 'unsatisfiable on a miss: 416')
  t.equal(unsatisfiable.headers['content-range'], 'bytes */1000')
  await h.assertClean(t)
})

t.test('wrong bytes upstream: a range on a miss cut from the whole never completes', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024, registry: { ranges: false } })
  h.reg.fault('cdn', { kind: 'wrong' }, { times: 1 })
  // The flipped byte is in the middle; this range does not even include it.
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=0-99' } })
  t.equal(o.status, 206)
  t.notOk(o.complete, 'cut: its last byte waited for the digest, which did not match')
  t.ok(o.body.length < 100, `${o.body.length} of 100 bytes`)
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  await h.assertClean(t)
  await h.assertRecovers(t)
})

t.test('bytes=0- on a miss is a whole pull: teed, verified, never passed through', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
  h.reg.fault('cdn', { kind: 'wrong' }, { times: 1 })
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=0-' } })
  t.notOk(o.complete && o.status === 206, `cut: the whole blob did not match (${o.status}, ${o.body.length} bytes)`)
  t.notOk(h.reg.requests.some((r) => r.headers['range']), 'no Range went upstream')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  await h.assertClean(t)
  const again = await h.get(h.blobPath, { headers: { range: 'bytes=0-' } })
  t.ok(again.status === 206 && again.complete && again.body.equals(h.blob), 'with the fault gone: the whole blob, 206')
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  t.ok(h.proxy.deps.cache?.cached(h.digest), 'and cached')
  await h.assertClean(t)
})
