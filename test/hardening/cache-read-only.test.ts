// The cache turns read-only: from the start (a read-only tmpfs: serve
// uncached, cache nothing), or in the middle of a fill (blobs/ becomes a
// read-only mount, so the commit fails with EROFS): the client gets the
// whole blob, verified; nothing is committed; the temp file is removed; and
// once the cache is writable again, blobs are cached again.
import t from 'tap'
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'
import { startHarness } from './fixtures/harness.js'
import { scratchDir, tryMount, umount } from './fixtures/mounts.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

t.test('read-only mid-fill: the commit fails', async (t) => {
  const scratch = scratchDir('crproxy-ro-')
  const skip = tryMount(scratch.dir, 'size=64m')
  if (skip) {
    scratch.remove()
    return t.plan(0, skip)
  }
  const blobs = join(scratch.dir, 'blobs')
  t.teardown(() => {
    umount(blobs)
    umount(scratch.dir)
    scratch.remove()
  })
  const h = await startHarness(t, { cache: scratch.dir, blobSize: 4 * 1024 * 1024 })
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 8 * 1024 * 1024 }, { times: 1 })
  const pull = h.get(h.blobPath)
  await waitFor(() => h.reg.bodyBytesSent.cdn, (n) => n > 64 * 1024 + 512 * 1024, 3000)
  const err = tryMount(blobs, 'ro,size=1m')
  t.equal(err, null, 'blobs/ is now a read-only mount')
  const o = await pull
  t.equal(o.status, 200)
  t.ok(o.complete && sha256(o.body) === h.digest, 'the whole blob, verified, served uncached')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing committed')
  await h.assertClean(t)
  umount(blobs)
  await h.assertRecovers(t, 'writable again')
  await h.assertClean(t, 'after recovery')
})

t.test('read-only from the start: serve, cache nothing', async (t) => {
  const scratch = scratchDir('crproxy-ro0-')
  mkdirSync(join(scratch.dir, 'cache'))
  const skip = tryMount(join(scratch.dir, 'cache'), 'ro,size=1m')
  if (skip) {
    scratch.remove()
    return t.plan(0, skip)
  }
  t.teardown(() => {
    umount(join(scratch.dir, 'cache'))
    scratch.remove()
  })
  const h = await startHarness(t, { cache: join(scratch.dir, 'cache') })
  for (let i = 0; i < 2; i++) {
    const o = await h.get(h.blobPath)
    t.ok(o.status === 200 && o.complete && sha256(o.body) === h.digest, `pull ${i + 1}: served`)
  }
  t.equal(h.proxy.deps.cache?.stats().blobs, 0, 'nothing cached')
  await h.assertClean(t)
})
