// A whole anonymous pull through crproxy against a Docker-Hub-like upstream:
// ping → 401 → token via the proxy's /token/ → manifest by tag and by digest
// → every blob via the CDN redirect, each digest checked.
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { ACCEPT_ALL_MANIFESTS, bearerParams, PullClient, request, startTestProxy } from '../fixtures/proxy.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('anonymous pull of a multi-platform image', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })

  const ping = await request(proxy.url, '/v2/')
  t.equal(ping.status, 401)
  t.equal(ping.headers['docker-distribution-api-version'], 'registry/2.0')
  const realm = bearerParams(ping.headers['www-authenticate'])['realm']!
  t.match(realm, new RegExp(`^${proxy.url}/token/default/http/`), 'realm points at the proxy')
  t.notMatch(String(ping.headers['www-authenticate']), hub.tokenUrl, 'the real realm is not shown')

  const c = new PullClient(proxy.url)
  const img = hub.images['library/alpine:3.19']!
  const byTag = await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(byTag.status, 200)
  t.ok(c.token, 'token obtained through the proxy')
  t.equal(byTag.headers['content-type'], img.mediaType)
  t.equal(byTag.headers['docker-content-digest'], img.digest)
  t.equal(Number(byTag.headers['content-length']), img.body.length)
  t.equal(sha256(byTag.body), img.digest)

  for (const pm of img.platformManifests!) {
    const m = await c.get(`/v2/library/alpine/manifests/${pm.digest}`, { accept: ACCEPT_ALL_MANIFESTS })
    t.equal(m.status, 200)
    t.equal(sha256(m.body), pm.digest, `platform manifest ${pm.platform.architecture}`)
  }
  for (const digest of img.blobs) {
    const b = await c.get(`/v2/library/alpine/blobs/${digest}`)
    t.equal(b.status, 200, `blob ${digest.slice(0, 19)}`)
    t.equal(sha256(b.body), digest)
    t.equal(b.headers['docker-content-digest'], digest)
    t.notOk(b.headers['location'], 'the CDN URL is never shown')
  }
  t.equal(hub.cdnAuthLeaks, 0, 'Authorization never reached the CDN')
  t.equal(hub.count('cdn', 'GET'), img.blobs.length, 'every blob came through the CDN redirect')
  t.ok(hub.count('token') >= 1, 'the token server was reached through the proxy')
})

t.test('Docker schema 2 image and a Docker manifest list', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const c = new PullClient(proxy.url)
  for (const ref of ['library/busybox:1.36', 'library/multi:1']) {
    const img = hub.images[ref]!
    const [repo, tag] = ref.split(':') as [string, string]
    const m = await c.get(`/v2/${repo}/manifests/${tag}`, { accept: ACCEPT_ALL_MANIFESTS })
    t.equal(m.status, 200, ref)
    t.equal(m.headers['content-type'], img.mediaType)
    t.equal(sha256(m.body), img.digest)
    for (const d of img.blobs) {
      const b = await c.get(`/v2/${repo}/blobs/${d}`)
      t.equal(sha256(b.body), d)
    }
  }
})

t.test('Accept is forwarded exactly: OCI index needs its type', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const c = new PullClient(proxy.url)
  const dockerOnly = await c.get('/v2/library/alpine/manifests/3.19', {
    accept: 'application/vnd.docker.distribution.manifest.v2+json',
  })
  t.equal(dockerOnly.status, 404, 'the upstream saw only the Docker type')
  t.match(JSON.parse(dockerOnly.body.toString()), { errors: [{ code: 'MANIFEST_UNKNOWN' }] }, 'upstream error passes through')
  const seen = hub.requests.filter((r) => r.path === '/v2/library/alpine/manifests/3.19').map((r) => r.headers['accept'])
  t.ok(seen.includes('application/vnd.docker.distribution.manifest.v2+json'))
})

t.test('tags/list and referrers pass through', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const c = new PullClient(proxy.url)
  const tags = await c.get('/v2/library/alpine/tags/list')
  t.equal(tags.status, 200)
  t.same(JSON.parse(tags.body.toString()).tags.sort(), ['3.19', 'latest'])
  const img = hub.images['library/alpine:3.19']!
  const refs = await c.get(`/v2/library/alpine/referrers/${img.digest}`)
  t.equal(refs.status, 200)
  t.equal(refs.headers['content-type'], 'application/vnd.oci.image.index.v1+json')
})
