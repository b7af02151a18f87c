// Client aborts cancel the client's response. A fill whose client wanted the
// blob to its end (it will resume), one others follow, or one at least half
// in reads on at disk speed and commits; one whose only client wanted a
// closed range and left early is dropped, so that a one-byte probe does not
// make the proxy fetch and store the whole blob. A client that stops reading
// holds the fill up for at most fillTimeout, then is cut loose.
import t from 'tap'
import { Metrics } from '../../lib/metrics.js'
import { asFollower, asWriter, collect, collectUntilError, fdCount, makeBlob, openCache, settle, upstreamBody, SOURCE } from './fixtures/helpers.js'

t.test('client destroyed mid-fill while another follows: the fill completes and commits', async (t) => {
  const dir = t.testdir()
  const fdsBefore = fdCount()
  const cache = await openCache(dir)
  const blob = makeBlob(4 * 1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const body = writer.fill(upstreamBody(blob.bytes, { delay: 1 }), blob.bytes.length)
  await new Promise<void>((resolve) => body.once('data', () => resolve()))
  const follower = asFollower(await cache.claim(blob.digest, SOURCE))
  const theirs = collect(follower.body)
  body.destroy()
  t.ok((await theirs).equals(blob.bytes), 'the follower still gets the blob')
  await settle()
  t.same(cache.cached(blob.digest), { size: blob.bytes.length }, 'committed')
  await cache.close()
  await settle()
  t.equal(fdCount(), fdsBefore, 'no file descriptor leaked')
})

t.test('a whole pull cut early: the fill goes on and commits', async (t) => {
  const cache = await openCache(t.testdir())
  const blob = makeBlob(4 * 1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const body = writer.fill(upstreamBody(blob.bytes, { delay: 1 }), blob.bytes.length)
  await new Promise<void>((resolve) => body.once('data', () => resolve()))
  body.destroy()
  for (let i = 0; i < 100 && !cache.cached(blob.digest); i++) await settle(50)
  t.same(cache.cached(blob.digest), { size: blob.bytes.length }, 'committed without a client')
  await cache.close()
})

t.test('the only client, of a closed range, leaves early: the fill is dropped, and counted', async (t) => {
  const dir = t.testdir()
  const metrics = new Metrics()
  const cache = await openCache(dir, { metrics })
  const blob = makeBlob(8 * 1024 * 1024)
  let sent = 0
  const upstream = upstreamBody(blob.bytes, { delay: 2 })
  upstream.on('data', (c: Buffer) => (sent += c.length))
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const body = writer.fill(upstream, blob.bytes.length, false)
  await new Promise<void>((resolve) => body.once('data', () => resolve()))
  body.destroy()
  await settle(300)
  t.ok(upstream.destroyed, 'the upstream body was let go')
  t.ok(sent < blob.bytes.length / 2, `the proxy stopped reading it (${sent} of ${blob.bytes.length} bytes)`)
  t.equal(cache.cached(blob.digest), undefined, 'nothing cached')
  t.match(metrics.render(), /crproxy_cache_fills_client_gone_total\{outcome="dropped"\} 1/, 'counted as dropped')
  t.equal(asWriter(await cache.claim(blob.digest, SOURCE)).role, 'writer', 'the next request fills it afresh')
  await cache.close()
})

t.test('the only client, of a closed range, leaves after half the blob: the fill goes on and commits', async (t) => {
  const dir = t.testdir()
  const metrics = new Metrics()
  const cache = await openCache(dir, { metrics })
  const blob = makeBlob(4 * 1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const body = writer.fill(upstreamBody(blob.bytes, { delay: 1 }), blob.bytes.length, false)
  let got = 0
  await new Promise<void>((resolve) =>
    body.on('data', (c: Buffer) => {
      got += c.length
      if (got > blob.bytes.length * 0.6) resolve()
    }),
  )
  body.destroy()
  for (let i = 0; i < 100 && !cache.cached(blob.digest); i++) await settle(50)
  t.same(cache.cached(blob.digest), { size: blob.bytes.length }, 'committed without a client')
  t.match(metrics.render(), /crproxy_cache_fills_client_gone_total\{outcome="kept"\} 1/, 'counted as kept')
  await cache.close()
})

t.test('a client that stops reading is cut loose after fillTimeout', async (t) => {
  const dir = t.testdir()
  const cache = await openCache(dir, { fillTimeout: 300 })
  const blob = makeBlob(12 * 1024 * 1024)
  const writer = asWriter(await cache.claim(blob.digest, SOURCE))
  const stuck = writer.fill(upstreamBody(blob.bytes), blob.bytes.length)
  const error = new Promise<NodeJS.ErrnoException>((resolve) => stuck.once('error', resolve))
  stuck.pause() // never reads
  const follower = asFollower(await cache.claim(blob.digest, SOURCE))
  const theirs = await collectUntilError(follower.body)
  t.equal(theirs.error, null)
  t.ok(theirs.bytes.equals(blob.bytes), 'the follower got the blob despite the stalled writer client')
  t.equal((await error).code, 'ETIMEDOUT', 'the stalled client was disconnected')
  await settle()
  t.ok(cache.cached(blob.digest), 'committed')
  await cache.close()
})
