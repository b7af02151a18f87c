// A new BlobCache.open on the same dir: committed blobs are back (in LRU
// order by atime/mtime), stale temp files are removed, a fresh one (another
// process may be filling it) is kept, and foreign files are left alone.
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { blobPath, collect, fdCount, makeBlob, openCache, putBlob, settle, tempPath, SOURCE } from './fixtures/helpers.js'

t.test('rebuild on open', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const [a, b, c] = [makeBlob(1000), makeBlob(2000), makeBlob(3000)]
  const first = await openCache(dir)
  for (const x of [a!, b!, c!]) await putBlob(first, x)
  await first.close()

  // Last used: b (newest), then a, then c (oldest).
  const now = Date.now() / 1000
  utimesSync(blobPath(dir, c!), now - 300, now - 300)
  utimesSync(blobPath(dir, a!), now - 200, now - 200)
  utimesSync(blobPath(dir, b!), now - 100, now - 100)

  const tmp = join(dir, 'tmp')
  const stale = makeBlob(10).hex
  const fresh = makeBlob(10).hex
  writeFileSync(join(tmp, stale), 'half a blob')
  writeFileSync(join(tmp, `${stale}.size`), '99')
  utimesSync(join(tmp, stale), now - 3600, now - 3600)
  utimesSync(join(tmp, `${stale}.size`), now - 3600, now - 3600)
  writeFileSync(join(tmp, fresh), 'being filled by someone')
  writeFileSync(join(tmp, 'notes.txt'), 'foreign')
  utimesSync(join(tmp, 'notes.txt'), now - 3600, now - 3600)

  const foreign = [
    join(dir, 'blobs', 'sha256', 'README'),
    join(dir, 'blobs', 'sha256', 'zz', 'whatever'),
    join(dir, 'blobs', 'sha256', a!.hex.slice(0, 2), 'not-a-digest'),
    join(dir, 'blobs', 'sha256', '00', 'ff' + a!.hex.slice(2)), // wrong shard
  ]
  for (const f of foreign) {
    mkdirSync(join(f, '..'), { recursive: true })
    writeFileSync(f, 'mine, not the cache’s')
  }
  mkdirSync(join(dir, 'blobs', 'sha256', b!.hex.slice(0, 2), 'f'.repeat(64)), { recursive: true }) // a dir, not a file

  // Room for two of the three: the least recently used (c) must go.
  const second = await openCache(dir, { maxSize: 5000, fillTimeout: 1000 })
  t.same(second.cached(a!.digest), { size: 1000 }, 'a is back')
  t.same(second.cached(b!.digest), { size: 2000 }, 'b is back')
  t.equal(second.cached(c!.digest), undefined, 'c, the least recently used, did not fit')
  await settle()
  t.notOk(existsSync(blobPath(dir, c!)), "c's file deleted")
  t.same(await collect(second.createReadStream(b!.digest)), b!.bytes, 'b serves, verified')
  t.equal(second.stats().blobs, 2)
  t.equal(second.stats().bytesOnDisk, 3000)

  t.notOk(existsSync(join(tmp, stale)), 'stale temp removed')
  t.notOk(existsSync(join(tmp, `${stale}.size`)), 'its sidecar too')
  t.ok(existsSync(join(tmp, fresh)), 'a fresh temp file is left to its writer')
  t.ok(existsSync(join(tmp, 'notes.txt')), 'foreign file in tmp/ left alone')
  for (const f of foreign) t.equal(readFileSync(f, 'utf8'), 'mine, not the cache’s', `foreign ${f.slice(dir.length)} left alone`)

  await second.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('a lock left by a dead process is broken once it is stale', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir, { fillTimeout: 100 })
  const blob = makeBlob(5000)
  const temp = tempPath(dir, blob)
  writeFileSync(temp, 'abandoned')
  const old = Date.now() / 1000 - 60
  utimesSync(temp, old, old)
  const claim = await cache.claim(blob.digest, SOURCE)
  t.equal(claim?.role, 'writer', 'the claim took over the abandoned fill')
  await cache.close()
})

t.test('an unwritable cache dir: serve what is there, cache nothing', async (t) => {
  const dir = t.testdir({ tmp: 'a file where tmp/ should be' })
  const cache = await openCache(dir)
  t.equal(await cache.claim(makeBlob(10).digest, SOURCE), null, 'claim says: proxy uncached')
  await cache.close()
})
