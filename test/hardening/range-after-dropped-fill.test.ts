// A Range request that is cut from a verified whole blob (`bytes=0-`, a
// whole pull in all but name) and was waiting on a fill whose writer's own
// request was a range no length satisfies (416) is still cut from a verified
// whole: it follows that fill (which then goes on for it) or, if the fill
// was dropped first, fetches the whole blob itself. It is never passed
// through to the upstream, whose 206 the proxy could not check: the wrong
// bytes the upstream sends from then on never complete a 206. (Other Ranges
// on a miss are passed through by design: cold-range.test.ts.)
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { waitFor } from '../fixtures/wait.js'

t.test('a Range waiting on a dropped fill is not passed through unverified', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 1024 * 1024 })
  // The writer's upstream GET answers late, so the second request waits on its fill.
  h.reg.fault('cdn', { kind: 'delay', ms: 1000 }, { times: 1 })
  const writer = h.get(h.blobPath, { headers: { range: 'bytes=5-3' } })
  await waitFor(() => h.proxy.deps.cache?.stats().inflightFills ?? 0, (n) => n > 0, 3000)
  // From now on the upstream sends one wrong byte in every body.
  h.reg.fault('cdn', { kind: 'wrong' })
  const range = 'bytes=0-'
  const o = await h.get(h.blobPath, { headers: { range } })
  t.equal((await writer).status, 416, 'the writer asked for a range no length satisfies')
  const want = h.reg.blob(h.digest)!
  t.ok(!(o.complete && o.status === 206) || o.body.equals(want), `a complete 206 carries the right bytes, or none completes (${o.status}, ${o.complete ? 'complete' : 'cut'})`)
  t.notOk(h.reg.requests.some((r) => r.headers['range'] === range), 'the Range never went upstream')
  await h.assertClean(t)
  await h.assertRecovers(t)
})
