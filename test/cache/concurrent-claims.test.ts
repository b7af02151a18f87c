// 20 concurrent claims for one digest: exactly one writer fetches upstream;
// the other 19 follow its fill; all 20 bodies are the blob, byte for byte.
import t from 'tap'
import { asWriter, collect, fdCount, makeBlob, openCache, settle, upstreamBody, SOURCE } from './fixtures/helpers.js'

t.test('one writer, nineteen followers', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(5 * 1024 * 1024 + 3)

  // Twenty requests, each handled as the blob handler does: claim, then
  // (writer) fetch and fill, or (follower) stream the follower's body.
  let fetches = 0
  let midFill = 0
  const roles: string[] = []
  const handle = async (): Promise<Buffer> => {
    const c = await cache.claim(blob.digest, SOURCE)
    roles.push(c?.role ?? 'null')
    if (c?.role === 'writer') {
      fetches++
      return collect(asWriter(c).fill(upstreamBody(blob.bytes, { delay: 1 }), blob.bytes.length))
    }
    if (c?.role === 'follower') {
      t.equal(c.size, blob.bytes.length, 'follower knows the size')
      if (roles.length === 20) midFill = fdCount()
      return collect(c.body)
    }
    throw new Error('claim returned null')
  }
  const got = await Promise.all(Array.from({ length: 20 }, handle))
  t.equal(roles.filter((r) => r === 'writer').length, 1, 'exactly one writer')
  t.equal(roles.filter((r) => r === 'follower').length, 19, 'nineteen followers')
  // In-process followers read through the writer's own handle, hearing of
  // progress by events: 19 followers do not mean 19 more descriptors.
  t.ok(midFill - fdsBefore < 10, `followers share the writer's file (${midFill - fdsBefore} fds in use mid-fill)`)
  t.equal(fetches, 1, 'upstream fetched once')
  for (const [i, b] of got.entries()) t.ok(b.equals(blob.bytes), `body ${i} is the blob`)
  t.equal(cache.stats().misses, 20)
  t.equal(cache.stats().blobs, 1)
  t.equal(cache.stats().bytesFromCache, 19 * blob.bytes.length, 'followers counted as served from cache')

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})
