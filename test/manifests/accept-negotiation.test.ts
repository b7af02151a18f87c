// Accept decides which manifest a tag names (a list, or one platform's
// manifest), and the cache never hands a client a media type its Accept does
// not admit: a client asking only for Docker types never gets an OCI index.
import t from 'tap'
import { PullClient } from '../fixtures/proxy.js'
import { ACCEPT_ALL, ACCEPT_DOCKER, manifestRequests, MT, setup } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('Docker list vs one Docker manifest for the same tag, each from the cache', async (t) => {
  const { hub, proxy } = await setup(t)
  const list = hub.images['library/multi:1']!
  const amd64 = list.platformManifests!.find((p) => p.platform.architecture === 'amd64')!
  const c = new PullClient(proxy.url)
  for (let round = 0; round < 2; round++) {
    hub.reset()
    const asList = await c.get('/v2/library/multi/manifests/1', { accept: ACCEPT_DOCKER })
    t.equal(asList.headers['content-type'], MT.dockerList)
    t.equal(sha256(asList.body), list.digest, 'the list for a client that accepts lists')
    const single = await c.get('/v2/library/multi/manifests/1', { accept: MT.dockerManifest })
    t.equal(single.headers['content-type'], MT.dockerManifest)
    t.equal(sha256(single.body), amd64.digest, 'the platform manifest for one that does not')
    if (round === 1) t.equal(manifestRequests(hub, 'GET'), 0, 'second round: both from the cache')
  }
})

t.test('OCI index cached; a Docker-only client is never handed it', async (t) => {
  const { hub, proxy } = await setup(t)
  const index = hub.images['library/alpine:3.19']!
  const c = new PullClient(proxy.url)
  const oci = await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_ALL })
  t.equal(oci.headers['content-type'], MT.ociIndex)
  t.equal(sha256(oci.body), index.digest)
  t.equal((await c.get(`/v2/library/alpine/manifests/${index.digest}`, { accept: MT.ociIndex })).status, 200)

  hub.reset()
  const byDigest = await c.get(`/v2/library/alpine/manifests/${index.digest}`, { accept: ACCEPT_DOCKER })
  t.not(byDigest.headers['content-type'], MT.ociIndex, 'not the OCI index')
  t.equal(byDigest.status, 404, "the upstream's answer to that Accept")
  t.equal(manifestRequests(hub, 'GET'), 1, 'asked upstream instead of the cache')

  const byTag = await c.get('/v2/library/alpine/manifests/3.19', { accept: ACCEPT_DOCKER })
  t.equal(byTag.status, 404)
  t.not(byTag.headers['content-type'], MT.ociIndex)

  hub.reset()
  await c.get(`/v2/library/alpine/manifests/${index.digest}`, { accept: `${MT.ociIndex};q=0, */*` })
  t.equal(manifestRequests(hub, 'GET'), 1, 'q=0 excludes it from the cache even beside */*')

  hub.reset()
  const noAccept = await c.get(`/v2/library/alpine/manifests/${index.digest}`)
  t.not(noAccept.headers['content-type'], MT.ociIndex)
  t.equal(manifestRequests(hub, 'GET'), 1, 'a request without Accept is never answered from the cache')

  hub.reset()
  const wildcard = await c.get(`/v2/library/alpine/manifests/${index.digest}`, { accept: '*/*' })
  t.equal(wildcard.status, 200)
  t.equal(wildcard.headers['content-type'], MT.ociIndex, '*/* admits every type')
  t.equal(manifestRequests(hub, 'GET'), 0)
})
