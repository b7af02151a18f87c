// Two clients share one fill. The follower leaving mid-body costs the fill
// nothing; the writer's client leaving costs the follower nothing. Either
// way the blob is committed and nothing is left open.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

for (const leaver of ['follower', 'writer'] as const) {
  t.test(`the ${leaver}'s client leaves`, async (t) => {
    const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
    h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 8 * 1024 * 1024 }, { times: 1 })
    const writer = h.get(h.blobPath, leaver === 'writer' ? { abortAfterBytes: 512 * 1024 } : {})
    await waitFor(() => h.reg.bodyBytesSent.cdn, (n) => n > 64 * 1024 + 256 * 1024, 3000)
    const follower = h.get(h.blobPath, leaver === 'follower' ? { abortAfterBytes: 512 * 1024 } : {})
    const [w, f] = await Promise.all([writer, follower])
    const stayed = leaver === 'writer' ? f : w
    const left = leaver === 'writer' ? w : f
    t.notOk(left.complete, `the ${leaver} left`)
    t.ok(stayed.status === 200 && stayed.complete && sha256(stayed.body) === h.digest, 'the other got the whole blob')
    t.equal(h.reg.count('cdn', 'GET', new RegExp(h.digest.slice(7))), 1, 'one upstream download')
    await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 3000)
    t.ok(h.proxy.deps.cache?.cached(h.digest), 'committed')
    await h.assertClean(t)
  })
}
