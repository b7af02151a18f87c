// A file deleted behind the index's back (another process's LRU, an
// operator): the read errors with ENOENT and the entry is dropped.
import { unlinkSync } from 'node:fs'
import t from 'tap'
import { blobPath, collectUntilError, fdCount, makeBlob, openCache, putBlob, settle, SOURCE } from './fixtures/helpers.js'

t.test('ENOENT on open drops the entry', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(5000)
  await putBlob(cache, blob)
  unlinkSync(blobPath(dir, blob))
  t.ok(cache.cached(blob.digest), 'the index still believes in it')
  const { error } = await collectUntilError(cache.createReadStream(blob.digest))
  t.equal(error?.code, 'ENOENT')
  t.equal(cache.cached(blob.digest), undefined, 'entry dropped')
  t.equal(cache.stats().blobs, 0)
  t.equal((await cache.claim(blob.digest, SOURCE))?.role, 'writer', 'the handler refetches')
  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('a digest the cache does not store', async (t) => {
  const cache = await openCache(t.testdir())
  t.equal(await cache.lookup('sha512:' + 'a'.repeat(128), SOURCE), undefined)
  t.equal(await cache.claim('sha512:' + 'a'.repeat(128), SOURCE), null, 'not sha256: proxy uncached')
  t.equal(await cache.claim('sha256:nothex', SOURCE), null)
  const { error } = await collectUntilError(cache.createReadStream('sha256:nothex'))
  t.equal(error?.code, 'ENOENT')
  await cache.close()
})
