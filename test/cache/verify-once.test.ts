// Verify on serve, once per file state: a cached blob this process has hashed
// whole is not hashed again while its file is unchanged (same inode, size,
// mtime and ctime); any change to the file brings the check back, and a file
// changed too recently for the kernel's coarse clock is never vouched for.
import { closeSync, openSync, writeSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Metrics } from '../../lib/metrics.js'
import { blobPath, collectUntilError, makeBlob, openCache, putBlob, settle } from './fixtures/helpers.js'

function skipped(m: Metrics): number {
  const line = m.render().split('\n').find((l) => l.startsWith('crproxy_cache_verify_skipped_total'))
  return line ? Number(line.split(' ').pop()) : 0
}

function flipByte(path: string, at: number, was: number): void {
  const fd = openSync(path, 'r+')
  writeSync(fd, Buffer.from([was ^ 1]), 0, 1, at)
  closeSync(fd)
}

t.test('an unchanged, verified file is served without hashing; a changed one is caught', async (t) => {
  const dir = t.testdir()
  const metrics = new Metrics()
  const cache = await openCache(dir, { metrics, racyMs: 50 })
  t.teardown(() => cache.close())
  const blob = makeBlob(3 * 1024 * 1024 + 5)
  await putBlob(cache, blob)
  await sleep(120) // the file is now older than the racy window

  const first = await collectUntilError(cache.createReadStream(blob.digest))
  t.equal(first.error, null)
  t.ok(first.bytes.equals(blob.bytes))
  t.equal(skipped(metrics), 0, 'the first serve is hashed')

  const second = await collectUntilError(cache.createReadStream(blob.digest))
  t.ok(second.bytes.equals(blob.bytes))
  t.equal(skipped(metrics), 1, 'the second serve of the same file is not')

  await sleep(20) // a later clock tick than the stamp's
  flipByte(blobPath(dir, blob), 777, blob.bytes[777]!)
  const third = await collectUntilError(cache.createReadStream(blob.digest))
  t.equal(third.error?.code, 'EINTEGRITY', 'the changed file is hashed again, and fails')
  t.ok(third.bytes.length < blob.bytes.length, 'before its end')
  t.equal(skipped(metrics), 1)
  await settle()
  t.equal(cache.cached(blob.digest), undefined, 'and is evicted')
})

t.test('verifyEveryServe hashes every serve', async (t) => {
  const dir = t.testdir()
  const metrics = new Metrics()
  const cache = await openCache(dir, { metrics, racyMs: 50, verifyEveryServe: true })
  t.teardown(() => cache.close())
  const blob = makeBlob(2 * 1024 * 1024)
  await putBlob(cache, blob)
  await sleep(120)
  for (let i = 0; i < 3; i++) t.equal((await collectUntilError(cache.createReadStream(blob.digest))).error, null)
  t.equal(skipped(metrics), 0)
})

t.test('a file changed within the racy window is hashed on every serve', async (t) => {
  const dir = t.testdir()
  const metrics = new Metrics()
  const cache = await openCache(dir, { metrics }) // the default window: 2 s
  t.teardown(() => cache.close())
  const blob = makeBlob(1024 * 1024 + 1)
  await putBlob(cache, blob)
  for (let i = 0; i < 3; i++) t.equal((await collectUntilError(cache.createReadStream(blob.digest))).error, null)
  t.equal(skipped(metrics), 0, 'a file this fresh could change within the same clock tick unseen')
})

t.test('a replaced file (another inode, same bytes) is hashed again', async (t) => {
  const dir = t.testdir()
  const metrics = new Metrics()
  const cache = await openCache(dir, { metrics, racyMs: 50 })
  t.teardown(() => cache.close())
  const blob = makeBlob(1024 * 1024 + 3)
  await putBlob(cache, blob)
  await sleep(120)
  t.equal((await collectUntilError(cache.createReadStream(blob.digest))).error, null)
  t.equal((await collectUntilError(cache.createReadStream(blob.digest))).error, null)
  t.equal(skipped(metrics), 1)
  // Same content under a new inode, as a restore from backup would leave it.
  const { copyFileSync, renameSync } = await import('node:fs')
  const path = blobPath(dir, blob)
  copyFileSync(path, path + '.copy')
  renameSync(path + '.copy', path)
  await sleep(120)
  t.equal((await collectUntilError(cache.createReadStream(blob.digest))).error, null)
  t.equal(skipped(metrics), 1, 'not vouched for by the old stamp')
})
