// Byte ranges of a cached blob (inclusive ends, as in Content-Range).
import t from 'tap'
import { collect, collectUntilError, fdCount, makeBlob, openCache, putBlob, settle } from './fixtures/helpers.js'

t.test('ranges', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(3 * 1024 * 1024 + 123)
  await putBlob(cache, blob)
  const n = blob.bytes.length
  for (const [start, end] of [
    [0, 0],
    [0, 99],
    [1000, 1024 * 1024 + 5],
    [n - 1, n - 1],
    [5, n - 1],
    [0, n - 1],
  ] as const) {
    const got = await collect(cache.createReadStream(blob.digest, { start, end }))
    t.ok(got.equals(blob.bytes.subarray(start, end + 1)), `bytes ${start}-${end}`)
  }
  const { error } = await collectUntilError(cache.createReadStream(blob.digest, { start: 10, end: n }))
  t.equal(error?.code, 'ERANGE', 'a range past the end errors')
  const bad = await collectUntilError(cache.createReadStream(blob.digest, { start: 10, end: 5 }))
  t.equal(bad.error?.code, 'ERANGE', 'an inverted range errors')
  t.equal(cache.stats().bytesFromCache, 1 + 100 + (1024 * 1024 + 5 - 1000 + 1) + 1 + (n - 5) + n)

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})
