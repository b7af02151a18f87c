// A fill is renamed into blobs/ only after its digest matched; until then it
// lives in tmp/ and is not served as a hit.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { asWriter, collect, fdCount, makeBlob, openCache, settle, tempPath, upstreamBody, SOURCE } from './fixtures/helpers.js'

t.test('commit only after the digest matched', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(3 * 1024 * 1024 + 17)
  const tmp = tempPath(dir, blob)
  const committed = join(dir, 'blobs', 'sha256', blob.hex.slice(0, 2), blob.hex)

  t.equal(cache.cached(blob.digest), undefined, 'a miss at first')
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  t.ok(existsSync(tmp), 'the claim created the temp file (the lock)')

  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const body = writer.fill(upstreamBody(blob.bytes, { gate: { at: 2 * 1024 * 1024, open: gate } }), blob.bytes.length)
  const got = collect(body)
  await settle(100)
  t.ok(existsSync(tmp), 'midway: still in tmp/')
  t.notOk(existsSync(committed), 'midway: nothing committed')
  t.equal(cache.cached(blob.digest), undefined, 'midway: not a hit')
  t.equal(cache.stats().inflightFills, 1)
  release()

  t.same(await got, blob.bytes, 'client got the whole blob')
  await settle()
  t.notOk(existsSync(tmp), 'temp file renamed away')
  t.ok(readFileSync(committed).equals(blob.bytes), 'committed file holds the blob')
  t.notOk(existsSync(`${tmp}.size`), 'sidecar removed')
  t.same(await cache.lookup(blob.digest, SOURCE), { size: blob.bytes.length }, 'now a hit')
  t.same(await collect(cache.createReadStream(blob.digest)), blob.bytes, 'served from the cache')

  const s = cache.stats()
  t.equal(s.hits, 1)
  t.equal(s.misses, 1)
  t.equal(s.blobs, 1)
  t.equal(s.bytesOnDisk, blob.bytes.length)
  t.equal(s.bytesFromUpstream, blob.bytes.length)
  t.equal(s.bytesFromCache, blob.bytes.length)
  t.equal(s.inflightFills, 0)

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})
