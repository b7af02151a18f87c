// Disk trouble stops caching, never serving: the client still gets the whole
// blob (still verified), nothing is committed and the temp file is removed.
// Runs as root here, where chmod does not stop writes, so the errors are real
// ones: a shard path that is a file (commit fails) and a full tmpfs (ENOSPC
// mid-write; skipped where mount is not allowed).
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { asFollower, asWriter, blobPath, collect, collectUntilError, fdCount, makeBlob, openCache, settle, tmpAfterCleanup, upstreamBody, SOURCE } from './fixtures/helpers.js'

t.test('commit fails (shard path is a file)', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(2 * 1024 * 1024)
  writeFileSync(join(dir, 'blobs', 'sha256', blob.hex.slice(0, 2)), 'in the way')
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const got = await collect(writer.fill(upstreamBody(blob.bytes), blob.bytes.length))
  t.ok(got.equals(blob.bytes), 'the client got the whole blob')
  t.same(await tmpAfterCleanup(dir), [], 'temp removed')
  t.equal(cache.cached(blob.digest), undefined, 'nothing committed')
  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

// A 1 MiB tmpfs outside the testdir (tap cannot remove a mount point).
function mountSmallTmpfs(): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' })
    return dir
  } catch {
    rmdirSync(dir)
    return null
  }
}
const small = mountSmallTmpfs()

t.test('disk full mid-fill (tmpfs of 1 MiB)', { skip: small ? false : 'cannot mount a tmpfs here' }, async (t) => {
  try {
    await fullDisk(t, small!)
  } finally {
    execFileSync('umount', [small!])
    rmdirSync(small!)
  }
})

async function fullDisk(t: Test, dir: string): Promise<void> {
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(3 * 1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const body = writer.fill(upstreamBody(blob.bytes, { delay: 1 }), blob.bytes.length)
  const follower = asFollower(await cache.claim(blob.digest, SOURCE))
  const [mine, theirs] = await Promise.all([collect(body), collectUntilError(follower.body)])
  t.ok(mine.equals(blob.bytes), 'the writer’s client got the whole blob, verified')
  t.ok(theirs.error, `the follower of the failed fill errors (${theirs.error?.code}): its handler refetches`)
  t.same(await tmpAfterCleanup(dir), [], 'temp removed (the space is back)')
  t.notOk(existsSync(blobPath(dir, blob)), 'nothing committed')
  t.equal(cache.stats().blobs, 0)
  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
}
