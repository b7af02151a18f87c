// The cache disk fills up in the middle of a fill (a 3 MiB tmpfs, a 4 MiB
// blob): the client still gets the whole blob, verified (caching stops,
// serving does not); a client following that fill is cut and its retry is
// served; nothing half-written is committed, the temp file is removed (the
// space comes back), and once there is room again the blob is cached.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { checkOutcome, startHarness } from './fixtures/harness.js'
import { remount, scratchDir, tryMount, umount } from './fixtures/mounts.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('ENOSPC mid-fill', async (t) => {
  const scratch = scratchDir('crproxy-full-')
  const skip = tryMount(scratch.dir, 'size=3m')
  if (skip) {
    scratch.remove()
    return t.plan(0, skip)
  }
  t.teardown(() => {
    umount(scratch.dir)
    scratch.remove()
  })
  const h = await startHarness(t, { cache: scratch.dir, blobSize: 4 * 1024 * 1024 })
  // Slow enough that a second client joins as a follower.
  h.reg.fault('cdn', { kind: 'rate', bytesPerSecond: 16 * 1024 * 1024 }, { times: 1 })
  const first = h.get(h.blobPath)
  await new Promise((r) => setTimeout(r, 50))
  const second = h.get(h.blobPath)
  const [a, b] = await Promise.all([first, second])
  t.equal(a.status, 200)
  t.ok(a.complete && sha256(a.body) === h.digest, 'the writer’s client got the whole blob, verified')
  checkOutcome(t, b, h.digest, 'the follower')
  if (!b.complete) {
    const retry = await h.get(h.blobPath)
    t.ok(retry.complete && sha256(retry.body) === h.digest, 'the follower’s retry is served (uncached: still no room)')
  }
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing committed')
  await h.assertClean(t)
  t.same(readdirSync(join(scratch.dir, 'tmp')), [], 'the space came back')
  remount(scratch.dir, 'size=64m')
  await h.assertRecovers(t, 'room again')
  await h.assertClean(t, 'after recovery')
})
