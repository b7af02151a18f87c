// The client of a cache hit disconnects mid-body: the read stream and its
// file are closed at once, the cached blob stays, the next hit is whole.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { waitFor } from '../fixtures/wait.js'

t.test('client gone mid-hit', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 16 * 1024 * 1024 })
  t.equal((await h.get(h.blobPath)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  for (const bytes of [-1, 1, 1024 * 1024, 8 * 1024 * 1024]) {
    const o = await h.get(h.blobPath, { abortAfterBytes: bytes })
    t.notOk(o.complete, `left after ${bytes < 0 ? 'the headers' : bytes + ' bytes'}`)
    await h.assertClean(t, `left after ${bytes}`)
  }
  t.ok(h.proxy.deps.cache?.cached(h.digest), 'still cached')
  await h.assertRecovers(t, 'a whole hit')
})
