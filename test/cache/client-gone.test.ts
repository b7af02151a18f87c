// Client aborts cancel the client's response, never a fill others may be
// waiting on: the fill reads on at disk speed and commits. A client that
// stops reading holds the fill up for at most fillTimeout, then is cut loose.
import t from 'tap'
import { asFollower, asWriter, collect, collectUntilError, fdCount, makeBlob, openCache, settle, upstreamBody } from './fixtures/helpers.js'

t.test('client destroyed mid-fill: the fill completes and commits', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(4 * 1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest))
  const body = writer.fill(upstreamBody(blob.bytes, { delay: 1 }), blob.bytes.length)
  await new Promise<void>((resolve) => body.once('data', () => resolve()))
  body.destroy()
  const follower = asFollower(await cache.claim(blob.digest))
  t.ok((await collect(follower.body)).equals(blob.bytes), 'a follower still gets the blob')
  await settle()
  t.same(cache.lookup(blob.digest), { size: blob.bytes.length }, 'committed')
  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('a client that stops reading is cut loose after fillTimeout', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir, { fillTimeout: 300 })
  const blob = makeBlob(12 * 1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest))
  const stuck = writer.fill(upstreamBody(blob.bytes), blob.bytes.length)
  const error = new Promise<NodeJS.ErrnoException>((resolve) => stuck.once('error', resolve))
  stuck.pause() // never reads
  const follower = asFollower(await cache.claim(blob.digest))
  const theirs = await collectUntilError(follower.body)
  t.equal(theirs.error, null)
  t.ok(theirs.bytes.equals(blob.bytes), 'the follower got the blob despite the stalled writer client')
  t.equal((await error).code, 'ETIMEDOUT', 'the stalled client was disconnected')
  await settle()
  t.ok(cache.lookup(blob.digest), 'committed')
  await cache.close()
})
