// Past maxSize the least recently used blobs are evicted: their files are
// deleted. lookup() counts as a use.
import { existsSync } from 'node:fs'
import t from 'tap'
import { blobPath, fdCount, makeBlob, openCache, putBlob, settle, SOURCE } from './fixtures/helpers.js'

t.test('maxSize evicts the least recently used', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const size = 100_000
  const cache = await openCache(dir, { maxSize: 3 * size + 10 })
  const [a, b, c, d] = [makeBlob(size), makeBlob(size), makeBlob(size), makeBlob(size)]
  await putBlob(cache, a!)
  await putBlob(cache, b!)
  await putBlob(cache, c!)
  t.equal(cache.stats().blobs, 3)
  t.ok(await cache.lookup(a!.digest, SOURCE), 'a used again: b is now the least recent')
  await putBlob(cache, d!)
  await settle()

  t.equal(cache.stats().blobs, 3)
  t.equal(cache.stats().bytesOnDisk, 3 * size)
  t.equal(cache.stats().evictions, 1)
  t.equal(cache.cached(b!.digest), undefined, 'b evicted')
  t.notOk(existsSync(blobPath(dir, b!)), "b's file deleted")
  for (const x of [a!, c!, d!]) t.ok(existsSync(blobPath(dir, x)), 'the others stay')

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('a blob larger than the whole cache is served, not stored', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir, { maxSize: 1000 })
  const big = makeBlob(5000)
  const small = makeBlob(500)
  await putBlob(cache, small)
  await putBlob(cache, big)
  await settle()
  t.equal(cache.cached(big.digest), undefined)
  t.notOk(existsSync(blobPath(dir, big)))
  t.ok(cache.cached(small.digest), 'did not push out what fits')
  await cache.close()
})
