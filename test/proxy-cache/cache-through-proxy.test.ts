// The blob cache seen from a client: one upstream download per blob, hits
// served with the right headers, Range and HEAD on hits, restart.
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient, request, startTestProxy } from '../fixtures/proxy.js'
import { CachePaths } from '../../lib/cache/paths.js'
import { sha256 } from '../fixtures/sha256.js'

async function setup(t: Test, cacheDir: string) {
  const hub = await startFakeHub({ bigLayerSize: 6 * 1024 * 1024 })
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir })
  const img = hub.images['library/big:1']!
  const digest = img.blobs[img.blobs.length - 1]!
  return { hub, proxy, digest, blob: hub.blob(digest)!, c: new PullClient(proxy.url) }
}

t.test('20 concurrent cold GETs: one upstream download, 20 correct bodies', async (t) => {
  const { hub, proxy, digest } = await setup(t, t.testdir())
  const c = new PullClient(proxy.url)
  await c.get('/v2/library/big/manifests/1', { accept: 'application/vnd.oci.image.manifest.v1+json' })
  hub.reset()
  const bodies = await Promise.all(
    Array.from({ length: 20 }, () =>
      request(proxy.url, `/v2/library/big/blobs/${digest}`, { headers: { authorization: `Bearer ${c.token}` } }),
    ),
  )
  for (const b of bodies) {
    t.equal(b.status, 200)
    t.equal(sha256(b.body), digest)
  }
  t.equal(hub.downloads('cdn'), 1, 'exactly one upstream blob download')
})

t.test('second pull: zero upstream blob requests; HEAD and Range on a hit', async (t) => {
  const { hub, c, digest, blob } = await setup(t, t.testdir())
  const first = await c.get(`/v2/library/big/blobs/${digest}`)
  t.equal(sha256(first.body), digest)
  hub.reset()
  const again = await c.get(`/v2/library/big/blobs/${digest}`)
  t.equal(again.status, 200)
  t.equal(sha256(again.body), digest)
  t.equal(again.headers['content-type'], 'application/octet-stream')
  t.equal(again.headers['accept-ranges'], 'bytes')
  t.equal(again.headers['docker-content-digest'], digest)
  t.equal(Number(again.headers['content-length']), blob.length)
  const head = await c.get(`/v2/library/big/blobs/${digest}`, {}, 'HEAD')
  t.equal(head.status, 200)
  t.equal(Number(head.headers['content-length']), blob.length)
  t.equal(head.body.length, 0)
  const r = await c.get(`/v2/library/big/blobs/${digest}`, { range: 'bytes=500-1499' })
  t.equal(r.status, 206)
  t.equal(r.headers['content-range'], `bytes 500-1499/${blob.length}`)
  t.same(r.body, blob.subarray(500, 1500))
  const tail = await c.get(`/v2/library/big/blobs/${digest}`, { range: 'bytes=-100' })
  t.same(tail.body, blob.subarray(blob.length - 100))
  const clamp = await c.get(`/v2/library/big/blobs/${digest}`, { range: `bytes=${blob.length - 10}-${blob.length + 5000}` })
  t.same(clamp.body, blob.subarray(blob.length - 10))
  const bad = await c.get(`/v2/library/big/blobs/${digest}`, { range: 'bytes=500-0' })
  t.equal(bad.status, 416)
  t.equal(bad.headers['content-range'], `bytes */${blob.length}`)
  t.equal(hub.count('cdn'), 0, 'no upstream blob request at all')
  t.equal(hub.count('registry', undefined, /\/blobs\//), 0)
})

t.test('restart: hits still served from disk', async (t) => {
  const dir = t.testdir()
  const hub = await startFakeHub({ bigLayerSize: 1024 * 1024 })
  t.teardown(() => hub.close())
  const img = hub.images['library/big:1']!
  const digest = img.blobs[1]!
  const p1 = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir: dir })
  const c1 = new PullClient(p1.url)
  t.equal(sha256((await c1.get(`/v2/library/big/blobs/${digest}`)).body), digest)
  await p1.close()
  hub.reset()
  const p2 = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir: dir })
  const c2 = new PullClient(p2.url)
  await c2.get('/v2/library/big/manifests/1', { accept: 'application/vnd.oci.image.manifest.v1+json' })
  const again = await c2.get(`/v2/library/big/blobs/${digest}`)
  t.equal(sha256(again.body), digest)
  t.equal(hub.downloads('cdn'), 0, 'no upstream download after restart')
})

t.test('a cached file corrupted on disk: cut, evicted, refetched', async (t) => {
  const dir = t.testdir()
  const { hub, c, digest, blob } = await setup(t, dir)
  t.equal(sha256((await c.get(`/v2/library/big/blobs/${digest}`)).body), digest)
  const file = new CachePaths(dir).blob(digest.slice(7))
  const bad = Buffer.from(blob)
  bad[12345] = bad[12345]! ^ 0xff
  writeFileSync(file, bad)
  await t.rejects(c.get(`/v2/library/big/blobs/${digest}`), 'the corrupt body never completes')
  hub.reset()
  const next = await c.get(`/v2/library/big/blobs/${digest}`)
  t.equal(sha256(next.body), digest, 'next request is correct')
  t.equal(hub.downloads('cdn'), 1, 'refetched from upstream')
})

t.test('wrong bytes from upstream are never cached', async (t) => {
  const dir = t.testdir()
  const { hub, c, digest } = await setup(t, dir)
  hub.faults.cdnCorrupt = true
  await t.rejects(c.get(`/v2/library/big/blobs/${digest}`))
  hub.faults.cdnCorrupt = false
  hub.reset()
  const next = await c.get(`/v2/library/big/blobs/${digest}`)
  t.equal(sha256(next.body), digest)
  t.equal(hub.downloads('cdn'), 1, 'fetched again: nothing wrong was cached')
})

t.test('a private cached blob is refused without valid credentials', async (t) => {
  const { hub, proxy } = await setup(t, t.testdir())
  const img = hub.images['private/secret:1']!
  const digest = img.blobs[img.blobs.length - 1]!
  const alice = new PullClient(proxy.url, { basic: 'alice:wonderland' })
  const ok = await alice.get(`/v2/private/secret/blobs/${digest}`)
  t.equal(ok.status, 200)
  t.equal(sha256(ok.body), digest)

  const anon = new PullClient(proxy.url)
  const refused = await anon.get(`/v2/private/secret/blobs/${digest}`)
  t.equal(refused.status, 401, 'anonymous client refused')
  t.notOk(refused.body.includes(hub.blob(digest)!.subarray(0, 64)), 'no blob bytes in the refusal')
  const noAuth = await request(proxy.url, `/v2/private/secret/blobs/${digest}`)
  t.equal(noAuth.status, 401)
  t.match(String(noAuth.headers['www-authenticate']), /realm="http:\/\/127\.0\.0\.1:\d+\/token\//, 'challenge rewritten')
  const forged = await request(proxy.url, `/v2/private/secret/blobs/${digest}`, { headers: { authorization: 'Bearer forged' } })
  t.equal(forged.status, 401, 'a forged token is refused')
  // Through a public repo of the same upstream: the digest is not linked there.
  const viaPublic = await anon.get(`/v2/library/busybox/blobs/${digest}`)
  t.equal(viaPublic.status, 404, 'not served through another repository')

  // alice again: served from the cache.
  hub.reset()
  const again = await alice.get(`/v2/private/secret/blobs/${digest}`)
  t.equal(sha256(again.body), digest)
  t.equal(hub.downloads('cdn'), 0, 'from the cache')
})

t.test('cache figures at /metrics', async (t) => {
  const { c, digest, proxy } = await setup(t, t.testdir())
  await c.get('/v2/library/big/manifests/1', { accept: 'application/vnd.oci.image.manifest.v1+json' })
  await c.get(`/v2/library/big/blobs/${digest}`)
  await c.get(`/v2/library/big/blobs/${digest}`)
  const m = (await request(proxy.url, '/metrics')).body.toString()
  t.match(m, /crproxy_cache_hits_total 1/)
  t.match(m, /crproxy_cache_misses_total 1/)
  t.match(m, /crproxy_cache_blobs 1/)
  t.match(m, /crproxy_cache_bytes \d{7}/)
})

t.test('nothing left in tmp after fills', async (t) => {
  const dir = t.testdir()
  const { c, digest } = await setup(t, dir)
  await c.get(`/v2/library/big/blobs/${digest}`)
  t.same(readdirSync(join(dir, 'tmp')).filter((f) => !f.startsWith('.')), [])
})
