// A GET by tag is revalidated with an upstream HEAD (HEADs do not count
// against Docker Hub's pull quota): repeated, it costs 1 HEAD and 0 GETs. The
// HEAD carries the client's Accept and Authorization; the answer keeps the
// upstream's Content-Type and Docker-Content-Digest.
import t from 'tap'
import { PullClient } from '../fixtures/proxy.js'
import { ACCEPT_ALL, freshToken, manifestRequests, metric, setup } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('repeated GET by tag: one upstream HEAD, no GET', async (t) => {
  const { hub, proxy } = await setup(t)
  const img = hub.images['library/alpine:3.19']!
  const c = new PullClient(proxy.url)
  const first = await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL })
  t.equal(sha256(first.body), img.digest)

  hub.reset()
  const again = await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL })
  t.equal(again.status, 200)
  t.same(again.body, img.body)
  t.equal(again.headers['content-type'], img.mediaType)
  t.equal(again.headers['docker-content-digest'], img.digest)
  t.equal(Number(again.headers['content-length']), img.body.length)
  t.equal(manifestRequests(hub, 'HEAD'), 1, '1 HEAD upstream')
  t.equal(manifestRequests(hub, 'GET'), 0, '0 GETs upstream')
  const head = hub.requests.find((r) => r.method === 'HEAD')!
  t.equal(head.headers['accept'], ACCEPT_ALL, "the client's Accept")
  t.equal(head.headers['authorization'], `Bearer ${c.token}`, "the client's Authorization")

  t.equal(await metric(proxy, 'crproxy_manifest_revalidations_total{result="hit"}'), 1)
  t.equal(await metric(proxy, 'crproxy_manifest_cache_hits_total{reference="tag"}'), 1)
})

t.test('a HEAD by tag goes upstream as a HEAD', async (t) => {
  const { hub, proxy } = await setup(t)
  const img = hub.images['library/alpine:3.19']!
  const c = new PullClient(proxy.url)
  await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL })
  hub.reset()
  const head = await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL }, 'HEAD')
  t.equal(head.status, 200)
  t.equal(head.headers['docker-content-digest'], img.digest)
  t.equal(Number(head.headers['content-length']), img.body.length)
  t.equal(manifestRequests(hub, 'HEAD'), 1)
  t.equal(manifestRequests(hub, 'GET'), 0)
})

t.test('a full pull the second time, with a new token: one upstream HEAD in all', async (t) => {
  const { hub, proxy } = await setup(t)
  const img = hub.images['library/alpine:3.19']!
  const pull = async (c: PullClient) => {
    const index = await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL })
    t.equal(sha256(index.body), img.digest)
    for (const pm of img.platformManifests!) {
      const m = await c.get(`/v2/library/alpine/manifests/${pm.digest}`, { accept: ACCEPT_ALL })
      t.equal(sha256(m.body), pm.digest)
    }
  }
  await pull(new PullClient(proxy.url))
  const second = await freshToken(proxy.url, 'library/alpine')
  hub.reset()
  await pull(second)
  t.equal(manifestRequests(hub, 'HEAD'), 1, 'the tag check only')
  t.equal(manifestRequests(hub, 'GET'), 0, 'the digests came from the cache without asking')
})

t.test('containerd-style pull (HEAD by tag, then GETs by digest) the second time: one upstream HEAD', async (t) => {
  const { hub, proxy } = await setup(t)
  const img = hub.images['library/alpine:3.19']!
  const pull = async (c: PullClient) => {
    const head = await c.get('/v2/library/alpine/manifests/3.19', { accept: `${ACCEPT_ALL}, */*` }, 'HEAD')
    t.equal(head.headers['docker-content-digest'], img.digest)
    for (const d of [img.digest, ...img.platformManifests!.map((p) => p.digest)]) {
      const m = await c.get(`/v2/library/alpine/manifests/${d}`, { accept: `${ACCEPT_ALL}, */*` })
      t.equal(sha256(m.body), d)
    }
  }
  await pull(new PullClient(proxy.url))
  const second = await freshToken(proxy.url, 'library/alpine')
  hub.reset()
  await pull(second)
  t.equal(manifestRequests(hub, 'HEAD'), 1, 'the resolve only')
  t.equal(manifestRequests(hub, 'GET'), 0)
})
