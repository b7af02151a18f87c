// A request that finds another client's fill of the same blob in progress
// follows it. If that fill fails before its first byte, the follower has
// answered nothing yet: it fetches the blob itself (verified) and the client
// gets the whole blob, not a cut 200 or a 500.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { sha256 } from './fixtures/fault-registry.js'
import { checkOutcome, startHarness } from './fixtures/harness.js'

t.test('the fill stalls before its first byte and times out: the follower fetches upstream itself', async (t) => {
  const h = await startHarness(t, { cache: true })
  // The writer's upstream sends its headers (so the fill knows the size and
  // followers attach), then nothing until the fill's idle timeout (2 s here).
  h.reg.fault('cdn', { kind: 'stall-body', after: 0 }, { times: 1 })
  const cdnBefore = h.reg.count('cdn', 'GET')
  const writer = h.get(h.blobPath)
  await sleep(300) // the writer has claimed the blob and is waiting for bytes
  const follower = await h.get(h.blobPath)
  checkOutcome(t, follower, h.digest, 'follower')
  t.equal(follower.status, 200)
  t.ok(follower.complete && sha256(follower.body) === h.digest, 'the follower got the whole blob, verified')
  t.equal(h.reg.count('cdn', 'GET'), cdnBefore + 2, 'fetched by the stalled fill, then by the follower')
  checkOutcome(t, await writer, h.digest, 'writer')
  await h.assertClean(t)
  await h.assertRecovers(t)
})
