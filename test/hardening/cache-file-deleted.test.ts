// Cache files deleted behind the index's back: a committed blob (the GET
// refetches it), a blob being served (the open file reads on), and the temp
// file of a running fill (the client is still served; nothing is committed).
import { unlinkSync } from 'node:fs'
import t from 'tap'
import { blobFile, tempFile } from './fixtures/cache-files.js'
import { startHarness } from './fixtures/harness.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

t.test('committed blob deleted: refetched', async (t) => {
  const h = await startHarness(t, { cache: true })
  t.equal((await h.get(h.blobPath)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  unlinkSync(blobFile(h.cacheDir!, h.digest))
  const o = await h.get(h.blobPath)
  t.ok(o.status === 200 && o.complete && sha256(o.body) === h.digest, 'served from upstream')
  await h.assertClean(t)
  await h.assertRecovers(t, 'cached again')
})

t.test('deleted while being served: the open file reads on', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 8 * 1024 * 1024 })
  t.equal((await h.get(h.blobPath)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
  let unlinked = false
  const o = await new Promise<Awaited<ReturnType<typeof h.get>>>((resolve) => {
    void h.get(h.blobPath).then(resolve)
    // unlink as soon as the hit started streaming
    const timer = setInterval(() => {
      try {
        unlinkSync(blobFile(h.cacheDir!, h.digest))
        unlinked = true
        clearInterval(timer)
      } catch {
        // not yet
      }
    }, 1)
  })
  t.ok(unlinked)
  t.ok(o.status === 200 && o.complete && sha256(o.body) === h.digest, 'the whole blob, verified')
  await h.assertClean(t)
  await h.assertRecovers(t, 'refetched and cached again')
})

t.test('temp file deleted mid-fill: served, not committed', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: 4 * 1024 * 1024 })
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 8 * 1024 * 1024 }, { times: 1 })
  const pull = h.get(h.blobPath)
  await waitFor(() => h.reg.bodyBytesSent.cdn, (n) => n > 1024 * 1024, 3000)
  unlinkSync(tempFile(h.cacheDir!, h.digest))
  const o = await pull
  t.ok(o.status === 200 && o.complete && sha256(o.body) === h.digest, 'the whole blob, verified')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing committed from a file that is no longer ours')
  await h.assertClean(t)
  await h.assertRecovers(t)
})
