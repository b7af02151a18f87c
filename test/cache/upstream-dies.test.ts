// The upstream dies mid-body: the client stream errors, nothing is committed,
// the temp file is removed and the next claim is a writer again.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { asWriter, collect, collectUntilError, fdCount, makeBlob, openCache, settle, tmpAfterCleanup, upstreamBody, SOURCE } from './fixtures/helpers.js'

t.test('upstream reset mid-body', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(2 * 1024 * 1024)

  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const { bytes, error } = await collectUntilError(writer.fill(upstreamBody(blob.bytes, { failAt: 1024 * 1024 }), blob.bytes.length))
  t.equal(error?.code, 'ECONNRESET', 'the client stream errors with the upstream error')
  t.ok(bytes.length < 1024 * 1024, 'and ends short')
  t.same(await tmpAfterCleanup(dir), [], 'temp file removed')
  t.equal(cache.stats().blobs, 0, 'nothing committed')

  const again = asWriter(await cache.claim(blob.digest, SOURCE))
  t.same(await collect(again.fill(upstreamBody(blob.bytes), blob.bytes.length)), blob.bytes, 'a retry fills it')
  t.same(cache.cached(blob.digest), { size: blob.bytes.length })

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('upstream goes idle: the fill gives up after fillTimeout', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir, { fillTimeout: 200 })
  const blob = makeBlob(1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const never = new Promise<void>(() => {})
  const started = Date.now()
  const { error } = await collectUntilError(
    writer.fill(upstreamBody(blob.bytes, { gate: { at: 512 * 1024, open: never } }), blob.bytes.length),
  )
  t.equal(error?.code, 'ETIMEDOUT')
  t.ok(Date.now() - started >= 190, 'after the idle timeout')
  t.same(await tmpAfterCleanup(dir), [], 'temp file removed')
  await cache.close()
})

t.test('abandon: followers waiting for the size go upstream themselves', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir)
  const blob = makeBlob(1000)
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const waiting = cache.claim(blob.digest, SOURCE)
  writer.abandon()
  t.equal(await waiting, null, 'the waiting claimant is told to proxy uncached')
  t.same(await tmpAfterCleanup(dir), [], 'lock released')
  t.equal(asWriter(await cache.claim(blob.digest, SOURCE)).role, 'writer', 'a later claim is a writer')
  await cache.close()
})
