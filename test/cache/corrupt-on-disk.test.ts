// A cached file that no longer matches its digest (bit rot, tampering) is
// caught on the way out: the read errors before its final chunk, the entry is
// evicted and the file deleted, so the next request refetches.
import { existsSync, openSync, writeSync, closeSync, truncateSync } from 'node:fs'
import t from 'tap'
import { blobPath, collectUntilError, fdCount, makeBlob, openCache, putBlob, settle } from './fixtures/helpers.js'

t.test('a flipped byte', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(3 * 1024 * 1024 + 1)
  await putBlob(cache, blob)
  const path = blobPath(dir, blob)
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.from([blob.bytes[1234]! ^ 1]), 0, 1, 1234)
  closeSync(fd)

  t.ok(cache.cached(blob.digest), 'still indexed')
  const { bytes, error } = await collectUntilError(cache.createReadStream(blob.digest))
  t.equal(error?.code, 'EINTEGRITY', 'the read errors')
  t.ok(bytes.length < blob.bytes.length, `before completion (${bytes.length} of ${blob.bytes.length})`)
  await settle()
  t.equal(cache.cached(blob.digest), undefined, 'evicted from the index')
  t.notOk(existsSync(path), 'file deleted')
  t.equal(cache.stats().evictions, 1)

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('a truncated file', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir)
  const blob = makeBlob(100_000)
  await putBlob(cache, blob)
  truncateSync(blobPath(dir, blob), 50_000)
  const { bytes, error } = await collectUntilError(cache.createReadStream(blob.digest))
  t.equal(error?.code, 'EINTEGRITY')
  t.equal(bytes.length, 0)
  await settle()
  t.equal(cache.cached(blob.digest), undefined, 'evicted')
  t.notOk(existsSync(blobPath(dir, blob)), 'file deleted')
  await cache.close()
})

t.test('verifyOnServe off: served as is', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir, { verifyOnServe: false })
  const blob = makeBlob(10_000)
  await putBlob(cache, blob)
  const fd = openSync(blobPath(dir, blob), 'r+')
  writeSync(fd, Buffer.from('x'), 0, 1, 0)
  closeSync(fd)
  const { bytes, error } = await collectUntilError(cache.createReadStream(blob.digest))
  t.equal(error, null)
  t.equal(bytes.length, blob.bytes.length)
  await cache.close()
})
