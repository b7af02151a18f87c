// A cached blob file truncated (or overwritten) behind the index's back: the
// next GET never completes a wrong body; the entry is evicted and the file
// deleted; the blob is fetched again from upstream and cached again. A HEAD
// answers from the index; a Range read of a truncated file is cut.
import { truncateSync, writeFileSync } from 'node:fs'
import t from 'tap'
import { blobFile } from './fixtures/cache-files.js'
import { checkOutcome, startHarness } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

t.test('truncated to half: refetched, not served short', async (t) => {
  const h = await startHarness(t, { cache: true })
  t.equal((await h.get(h.blobPath)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  truncateSync(blobFile(h.cacheDir!, h.digest), h.blob.length / 2)
  const cdnBefore = h.reg.count('cdn', 'GET')
  const o = await h.get(h.blobPath)
  checkOutcome(t, o, h.digest, 'after truncation')
  t.equal(o.status, 200, 'answered from upstream instead')
  t.ok(o.complete && sha256(o.body) === h.digest)
  t.equal(h.reg.count('cdn', 'GET'), cdnBefore + 1, 'fetched again')
  await h.assertClean(t)
  await h.assertRecovers(t, 'cached again')
})

t.test('same length, wrong bytes: cut before the end, evicted, refetched next time', async (t) => {
  // Bigger than one read of a hit (2 MiB at most): the mismatch shows at the
  // end of a stream that has already started.
  const h = await startHarness(t, { cache: true, blobSize: 6 * 1024 * 1024 + 17 })
  t.equal((await h.get(h.blobPath)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  const bad = Buffer.from(h.blob)
  bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 1
  writeFileSync(blobFile(h.cacheDir!, h.digest), bad)
  const o = await h.get(h.blobPath)
  checkOutcome(t, o, h.digest, 'bit rot')
  t.notOk(o.complete, 'cut before the last chunk')
  await h.assertClean(t)
  await h.assertRecovers(t, 'refetched and cached again')
})

t.test('wrong bytes caught before the first byte went out: answered from upstream instead', async (t) => {
  // A blob that fits in one read is hashed whole before anything is sent.
  const h = await startHarness(t, { cache: true, blobSize: 1024 * 1024 + 5 })
  t.equal((await h.get(h.blobPath)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  const bad = Buffer.from(h.blob)
  bad[bad.length - 10] = (bad[bad.length - 10] ?? 0) ^ 1
  writeFileSync(blobFile(h.cacheDir!, h.digest), bad)
  const cdnBefore = h.reg.count('cdn', 'GET')
  const o = await h.get(h.blobPath)
  checkOutcome(t, o, h.digest, 'bit rot')
  t.ok(o.status === 200 && o.complete && sha256(o.body) === h.digest, 'a complete 200 with the right bytes')
  t.equal(h.reg.count('cdn', 'GET'), cdnBefore + 1, 'fetched again')
  await h.assertClean(t)
  await h.assertRecovers(t, 'cached again')
})

t.test('a Range read of a truncated file is cut or refused, never short', async (t) => {
  const h = await startHarness(t, { cache: true })
  t.equal((await h.get(h.blobPath)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  truncateSync(blobFile(h.cacheDir!, h.digest), 1000)
  const o = await h.get(h.blobPath, { headers: { range: 'bytes=500-1999' } })
  if (o.complete && (o.status === 206 || o.status === 200)) {
    const want = o.status === 206 ? h.blob.subarray(500, 2000) : h.blob
    t.ok(o.body.equals(want), `a complete ${o.status} has the right bytes`)
  } else {
    t.pass(`cut or refused (${o.status}, complete=${o.complete})`)
  }
  await h.assertClean(t)
})
