// A follower that joins mid-download gets the bytes already on disk at once
// and the rest as they land: it does not wait for the fill to finish.
import t from 'tap'
import { asFollower, asWriter, collect, fdCount, makeBlob, openCache, settle, upstreamBody, SOURCE } from './fixtures/helpers.js'

t.test('follower streams before the end', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(4 * 1024 * 1024)
  const half = 2 * 1024 * 1024

  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const writerBody = writer.fill(upstreamBody(blob.bytes, { gate: { at: half, open: gate } }), blob.bytes.length)
  const writerGot = collect(writerBody)
  await t.resolves(new Promise((r) => setTimeout(r, 100)))

  const follower = asFollower(await cache.claim(blob.digest, SOURCE))
  t.equal(follower.size, blob.bytes.length)
  let early = 0
  const parts: Buffer[] = []
  const done = new Promise<void>((resolve, reject) => {
    follower.body.on('data', (c: Buffer) => parts.push(c))
    follower.body.on('end', resolve)
    follower.body.on('error', reject)
  })
  // Upstream is stalled at half: whatever arrives now came before the end.
  await new Promise((r) => setTimeout(r, 200))
  early = parts.reduce((n, p) => n + p.length, 0)
  t.ok(early >= half - 64 * 1024, `follower got ${early} bytes while the upstream was stalled at ${half}`)
  t.ok(early < blob.bytes.length, 'and not the end (the last chunk is held)')

  release()
  await done
  t.ok(Buffer.concat(parts).equals(blob.bytes), 'follower body is the blob')
  t.ok((await writerGot).equals(blob.bytes), 'writer body is the blob')

  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})
