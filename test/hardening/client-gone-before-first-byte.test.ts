// A client that leaves while its pull waits for the first bytes of the fill
// it follows (the upstream has not answered yet) leaves nothing behind: when
// the bytes come, nothing is sent to the gone client, and the fill's file is
// not held open for it. The fill itself goes on and is committed.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

t.test("a follower's client that left before the fill's first byte holds no file", async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 256 * 1024 })
  // The writer's upstream GET answers late; the follower's checks go through.
  h.reg.fault('cdn', { kind: 'delay', ms: 1500 }, { times: 1 })
  const writer = h.get(h.blobPath)
  await waitFor(() => h.proxy.deps.cache?.stats().inflightFills ?? 0, (n) => n > 0, 3000)
  const follower = await h.get(h.blobPath, { abortAfterMs: 500 })
  t.equal(follower.status, null, 'the follower left before any answer')
  const w = await writer
  t.ok(w.status === 200 && w.complete && sha256(w.body) === h.digest, 'the writer got the whole blob')
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 3000)
  t.ok(h.proxy.deps.cache?.cached(h.digest), 'committed')
  await h.assertClean(t)
})
