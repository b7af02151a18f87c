// A Range request for a blob that is not cached is answered from the whole
// blob as it is fetched into the cache, never passed through unverified: the
// slice is right, its last byte comes only after the whole blob matched its
// digest (wrong bytes upstream: the range is cut, never complete), parallel
// ranges of one blob cost one download, and the blob is cached for the next.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { waitFor } from '../fixtures/wait.js'

t.test('ranges on a miss are cut from the verified whole', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
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
  t.equal(h.reg.count('cdn', 'GET', new RegExp(h.digest.slice(7))), 1, 'one upstream download for all of them')
  t.notOk(h.reg.requests.some((r) => r.headers['range']), 'no Range went upstream')
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  t.ok(h.proxy.deps.cache?.cached(h.digest), 'cached')
  const unsatisfiable = await h.get(h.addBlob(1000).path, { headers: { range: 'bytes=5000-' } })
  t.equal(unsatisfiable.status, 416, 'unsatisfiable on a miss: 416')
  t.equal(unsatisfiable.headers['content-range'], 'bytes */1000')
  await h.assertClean(t)
})

t.test('wrong bytes upstream: a range on a miss never completes', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
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
