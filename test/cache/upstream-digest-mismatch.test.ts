// The upstream sends bytes that are not the digest (or not the length): the
// client stream errors before its last chunk, nothing is committed, the temp
// file is removed, and followers of that fill error too.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { isDigestMismatch } from '../../lib/integrity/integrity-error.js'
import { asFollower, asWriter, collectUntilError, fdCount, makeBlob, openCache, settle, tmpAfterCleanup, upstreamBody, SOURCE } from './fixtures/helpers.js'

t.test('wrong bytes from upstream', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(3 * 1024 * 1024)
  const wrong = Buffer.from(blob.bytes)
  wrong[wrong.length - 1] = wrong[wrong.length - 1]! ^ 0xff // same length, last byte flipped

  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const body = writer.fill(upstreamBody(wrong, { delay: 2 }), wrong.length)
  const follower = asFollower(await cache.claim(blob.digest, SOURCE))
  const [mine, theirs] = await Promise.all([collectUntilError(body), collectUntilError(follower.body)])

  t.ok(isDigestMismatch(mine.error), 'the client stream errors with EINTEGRITY')
  t.equal(mine.error?.code, 'EINTEGRITY')
  t.ok(mine.bytes.length < wrong.length, `the client never got the whole body (${mine.bytes.length} bytes)`)
  t.ok(theirs.error, `the follower errors too (${theirs.error?.code})`)
  t.ok(theirs.bytes.length < wrong.length, 'the follower never got the whole body either')

  await settle()
  t.notOk(existsSync(join(dir, 'blobs', 'sha256', blob.hex.slice(0, 2), blob.hex)), 'nothing committed')
  t.same(await tmpAfterCleanup(dir), [], 'temp file and sidecar removed')
  t.equal(cache.cached(blob.digest), undefined)
  t.equal(asWriter(await cache.claim(blob.digest, SOURCE)).role, 'writer', 'the next claim fetches again')

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('more bytes than Content-Length', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir)
  const blob = makeBlob(1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const { bytes, error } = await collectUntilError(writer.fill(upstreamBody(blob.bytes), blob.bytes.length - 10))
  t.equal(error?.code, 'EINTEGRITY')
  t.ok(bytes.length < blob.bytes.length - 10)
  t.same(await tmpAfterCleanup(dir), [], 'temp removed')
  await cache.close()
})
