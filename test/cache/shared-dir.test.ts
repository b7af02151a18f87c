// Two caches on one dir in one process stand in for two processes: neither
// knows the other's fills except through the files, so this drives the
// cross-process paths (O_EXCL lock, sidecar, fstat polling) deterministically.
import t from 'tap'
import { asFollower, asWriter, collect, collectUntilError, fdCount, makeBlob, openCache, putBlob, settle, upstreamBody, SOURCE } from './fixtures/helpers.js'

t.test('a blob committed by the other process: follow it, do not refetch', async (t) => {
  const dir = t.testdir()
  const [a, b] = [await openCache(dir), await openCache(dir)]
  const blob = makeBlob(300_000)
  await putBlob(a, blob)
  t.equal(b.cached(blob.digest), undefined, "b's index does not know it")
  const f = asFollower(await b.claim(blob.digest, SOURCE))
  t.ok((await collect(f.body)).equals(blob.bytes), 'b serves the committed file')
  t.same(b.cached(blob.digest), { size: blob.bytes.length }, 'and indexes it')
  t.same([b.stats().hits, b.stats().misses], [1, 0], 'a hit for b, not a miss: no upstream byte was needed')
  await a.close()
  await b.close()
})

t.test("following the other process's fill as it grows", async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const [a, b] = [await openCache(dir), await openCache(dir)]
  const blob = makeBlob(3 * 1024 * 1024)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const writer = asWriter(await a.claim(blob.digest, SOURCE))
  const mine = collect(writer.fill(upstreamBody(blob.bytes, { gate: { at: 1024 * 1024, open: gate } }), blob.bytes.length))
  const f = asFollower(await b.claim(blob.digest, SOURCE))
  t.equal(f.size, blob.bytes.length, 'size from the sidecar')
  const first = await new Promise<Buffer>((resolve) => f.body.once('data', resolve))
  t.ok(first.length > 0, 'bytes arrive while the writer is stalled midway')
  const rest = collect(f.body)
  release()
  t.ok(Buffer.concat([first, await rest]).equals(blob.bytes), 'follower body is the blob')
  t.ok((await mine).equals(blob.bytes))
  await a.close()
  await b.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test("the other process's fill fails: the follower errors", async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const [a, b] = [await openCache(dir), await openCache(dir)]
  const blob = makeBlob(2 * 1024 * 1024)
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const writer = asWriter(await a.claim(blob.digest, SOURCE))
  const mine = collectUntilError(
    writer.fill(upstreamBody(blob.bytes, { failAt: 1024 * 1024, gate: { at: 512 * 1024, open: gate } }), blob.bytes.length),
  )
  const f = asFollower(await b.claim(blob.digest, SOURCE))
  release()
  const theirs = await collectUntilError(f.body)
  t.equal(theirs.error?.code, 'EFILLFAILED', 'the follower errors')
  t.ok(theirs.bytes.length < blob.bytes.length)
  t.equal((await mine).error?.code, 'ECONNRESET')
  await settle()
  t.equal((await b.claim(blob.digest, SOURCE))?.role, 'writer', 'the lock is free again')
  await a.close()
  await b.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('no Content-Length: followers wait for the commit', async (t) => {
  const dir = t.testdir()
  const [a, b] = [await openCache(dir), await openCache(dir)]
  const blob = makeBlob(500_000)
  const writer = asWriter(await a.claim(blob.digest, SOURCE))
  const body = writer.fill(upstreamBody(blob.bytes, { delay: 2 }), undefined)
  const [here, there] = await Promise.all([a.claim(blob.digest, SOURCE), b.claim(blob.digest, SOURCE)])
  const [w, f1, f2] = await Promise.all([collect(body), collect(asFollower(here).body), collect(asFollower(there).body)])
  t.ok(w.equals(blob.bytes) && f1.equals(blob.bytes) && f2.equals(blob.bytes), 'all three bodies are the blob')
  await a.close()
  await b.close()
})
