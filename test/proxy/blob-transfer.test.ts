// Blob GET/HEAD/Range through the proxy without a cache, and what happens
// when the CDN sends wrong or too few bytes.
import t, { type Test } from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient, startTestProxy } from '../fixtures/proxy.js'
import { sha256 } from '../fixtures/sha256.js'

async function setup(t: Test, opts: { relativeRedirect?: boolean } = {}) {
  const hub = await startFakeHub({ bigLayerSize: 4 * 1024 * 1024, ...opts })
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, client: { idleTimeout: 500 } })
  const c = new PullClient(proxy.url)
  const img = hub.images['library/big:1']!
  const digest = img.blobs[img.blobs.length - 1]!
  return { hub, proxy, c, digest, blob: hub.blob(digest)! }
}

t.test('HEAD gives the real length and digest, no body', async (t) => {
  const { c, digest, blob } = await setup(t)
  const res = await c.get(`/v2/library/big/blobs/${digest}`, {}, 'HEAD')
  t.equal(res.status, 200)
  t.equal(Number(res.headers['content-length']), blob.length)
  t.equal(res.headers['docker-content-digest'], digest)
  t.equal(res.body.length, 0)
})

t.test('Range passes through: 206 with Content-Range, 416 past the end', async (t) => {
  const { c, digest, blob } = await setup(t)
  const r = await c.get(`/v2/library/big/blobs/${digest}`, { range: 'bytes=500-1499' })
  t.equal(r.status, 206)
  t.equal(r.headers['content-range'], `bytes 500-1499/${blob.length}`)
  t.same(r.body, blob.subarray(500, 1500))
  const resume = await c.get(`/v2/library/big/blobs/${digest}`, { range: `bytes=${blob.length - 10}-` })
  t.same(resume.body, blob.subarray(blob.length - 10))
  const bad = await c.get(`/v2/library/big/blobs/${digest}`, { range: `bytes=${blob.length + 5}-` })
  t.equal(bad.status, 416)
  t.equal(bad.headers['content-range'], `bytes */${blob.length}`)
})

t.test('relative, multi-hop redirects resolve server-side', async (t) => {
  const { hub, c, digest } = await setup(t, { relativeRedirect: true })
  const res = await c.get(`/v2/library/big/blobs/${digest}`)
  t.equal(res.status, 200)
  t.equal(sha256(res.body), digest)
  t.equal(hub.cdnAuthLeaks, 0)
  t.equal(hub.count('registry', 'GET', /^\/_redirect\//), 1, 'went through the relative hop')
})

t.test('wrong bytes from the CDN: the client body never completes', async (t) => {
  const { hub, c, digest } = await setup(t)
  hub.faults.cdnCorrupt = true
  await t.rejects(c.get(`/v2/library/big/blobs/${digest}`), 'connection cut before the end')
  hub.faults.cdnCorrupt = false
  const ok = await c.get(`/v2/library/big/blobs/${digest}`)
  t.equal(sha256(ok.body), digest, 'the next request succeeds once the fault is gone')
})

t.test('the CDN dies mid-body: the client body never completes', async (t) => {
  const { hub, c, digest } = await setup(t)
  hub.faults.cdnTruncate = 100_000
  await t.rejects(c.get(`/v2/library/big/blobs/${digest}`))
  hub.faults.cdnTruncate = undefined
  hub.faults.cdnStallAfter = 100_000
  await t.rejects(c.get(`/v2/library/big/blobs/${digest}`), 'idle timeout cuts a stalled body')
})
