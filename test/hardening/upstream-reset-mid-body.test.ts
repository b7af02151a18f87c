// The CDN resets the connection halfway through a blob: the client's body is
// cut (never complete), nothing is cached, nothing is left open, and the next
// pull succeeds.
import t from 'tap'
import { checkOutcome, startHarness } from './fixtures/harness.js'

for (const cache of [false, true]) {
  t.test(`reset mid-body (${cache ? 'cache fill' : 'uncached'})`, async (t) => {
    const h = await startHarness(t, { cache })
    h.reg.fault('cdn', { kind: 'reset-body', after: 512 * 1024 }, { times: 1 })
    const o = await h.get(h.blobPath)
    checkOutcome(t, o, h.digest, 'reset')
    t.notOk(o.complete, 'the body did not complete')
    if (cache) t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
    await h.assertClean(t)
    await h.assertRecovers(t)
    await h.assertClean(t, 'after recovery')
  })
}
