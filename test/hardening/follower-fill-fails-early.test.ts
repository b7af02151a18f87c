// A request that finds another client's fill of the same blob in progress
// follows it. If that fill fails before its first byte, the follower has
// answered nothing yet: it claims the blob again, fetches it itself (verified,
// a `bytes=0-` Range cut from the whole blob) and the client gets the right
// bytes, not a 200 cut at zero bytes, a 500, or an unverified Range from the
// upstream. (A Range from further in goes to the upstream while the fill has
// not reached it: cold-range.test.ts.)
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { checkOutcome, startHarness } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('the fill stalls before its first byte and times out: the follower fetches the blob itself', async (t) => {
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

t.test('a bytes=0- request whose fill fails early is cut from a verified refetch, never passed through', async (t) => {
  const h = await startHarness(t, { cache: true })
  // First upstream GET: headers, then silence (the writer's fill times out).
  // Second: the right length with one byte flipped in the middle, inside the
  // range asked for. A Range passed through to the upstream would carry it.
  h.reg.fault('cdn', { kind: 'stall-body', after: 0 }, { times: 1 })
  h.reg.fault('cdn', { kind: 'wrong' }, { times: 1 })
  const range = { start: 0, end: h.blob.length - 1 }
  const writer = h.get(h.blobPath)
  await sleep(300)
  const follower = await h.get(h.blobPath, { headers: { range: 'bytes=0-' } })
  t.notOk(
    follower.status === 206 && follower.complete && !follower.body.equals(h.blob.subarray(range.start, range.end + 1)),
    'no complete 206 with wrong bytes',
  )
  t.notOk(follower.complete && follower.status === 206, `the wrong refetch cut the 206 (status ${follower.status}, complete ${follower.complete})`)
  checkOutcome(t, await writer, h.digest, 'writer')
  await h.assertClean(t)
  const again = await h.get(h.blobPath, { headers: { range: 'bytes=0-' } })
  t.equal(again.status, 206, 'with the faults gone, the range is served')
  t.ok(again.complete && again.body.equals(h.blob.subarray(range.start, range.end + 1)), 'with the right bytes')
})
