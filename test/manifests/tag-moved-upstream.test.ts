// Tags stay fresh: every GET by tag asks the upstream (HEAD), so a tag moved
// upstream is served at its new digest at once, never the cached old one.
import t from 'tap'
import { PullClient } from '../fixtures/proxy.js'
import { ACCEPT_ALL, manifestRequests, MT, setup } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('tag moved upstream → the new digest is served at once', async (t) => {
  const { hub, proxy } = await setup(t)
  const c = new PullClient(proxy.url)
  const old = hub.images['library/busybox:1.36']!
  const first = await c.get('/v2/library/busybox/manifests/1.36', { accept: ACCEPT_ALL })
  t.equal(first.headers['docker-content-digest'], old.digest)
  const cached = await c.get('/v2/library/busybox/manifests/1.36', { accept: ACCEPT_ALL })
  t.equal(cached.headers['docker-content-digest'], old.digest, 'from the cache while unchanged')

  const moved = JSON.parse(old.body.toString()) as { annotations?: Record<string, string> }
  moved.annotations = { 'org.example.rebuilt': 'yes' }
  const next = hub.putManifest('library/busybox', '1.36', MT.dockerManifest, Buffer.from(JSON.stringify(moved)))
  t.not(next, old.digest)

  hub.reset()
  const fresh = await c.get('/v2/library/busybox/manifests/1.36', { accept: ACCEPT_ALL })
  t.equal(fresh.status, 200)
  t.equal(fresh.headers['docker-content-digest'], next, 'the new digest')
  t.equal(sha256(fresh.body), next, 'the new body')
  t.equal(fresh.headers['content-type'], MT.dockerManifest)
  t.equal(manifestRequests(hub, 'HEAD'), 1)
  t.equal(manifestRequests(hub, 'GET'), 1, 'the new manifest was fetched')

  hub.reset()
  const again = await c.get('/v2/library/busybox/manifests/1.36', { accept: ACCEPT_ALL })
  t.equal(sha256(again.body), next)
  t.equal(manifestRequests(hub, 'GET'), 0, 'and is cached from then on')

  hub.deleteTag('library/busybox', '1.36')
  const gone = await c.get('/v2/library/busybox/manifests/1.36', { accept: ACCEPT_ALL })
  t.equal(gone.status, 404, 'a deleted tag is a 404, not the cached manifest')
  t.match(JSON.parse(gone.body.toString()), { errors: [{ code: 'MANIFEST_UNKNOWN' }] }, 'the upstream error body')
})
