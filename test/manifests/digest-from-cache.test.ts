// A manifest addressed by digest is immutable: the second GET (and any HEAD)
// is answered from the cache without an upstream request, with the headers a
// registry sends, and it is on disk in the documented layout.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { PullClient } from '../fixtures/proxy.js'
import { ACCEPT_ALL, freshToken, manifestRequests, setup } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('digest manifest: second GET and HEAD never reach the upstream', async (t) => {
  const { hub, proxy, dir } = await setup(t)
  const img = hub.images['library/alpine:3.19']!
  const child = img.platformManifests![0]!
  const c = new PullClient(proxy.url)
  const path = `/v2/library/alpine/manifests/${child.digest}`

  const first = await c.get(path, { accept: ACCEPT_ALL })
  t.equal(first.status, 200)
  t.equal(sha256(first.body), child.digest)

  hub.reset()
  const again = await c.get(path, { accept: ACCEPT_ALL })
  t.equal(again.status, 200)
  t.same(again.body, child.body, 'the same bytes')
  t.equal(again.headers['content-type'], child.mediaType)
  t.equal(again.headers['docker-content-digest'], child.digest)
  t.equal(Number(again.headers['content-length']), child.body.length)
  t.equal(again.headers['docker-distribution-api-version'], 'registry/2.0')
  const head = await c.get(path, { accept: ACCEPT_ALL }, 'HEAD')
  t.equal(head.status, 200)
  t.equal(head.body.length, 0)
  t.equal(Number(head.headers['content-length']), child.body.length)
  t.equal(head.headers['docker-content-digest'], child.digest)
  const notModified = await c.get(path, { accept: ACCEPT_ALL, 'if-none-match': `"${child.digest}"` })
  t.equal(notModified.status, 304, 'If-None-Match with the digest → 304')
  t.equal(hub.requests.length, 0, 'no upstream request at all')

  // Stored before the last byte went out: on disk once the client has it.
  const repoDir = join(dir!, 'manifests', 'default', 'library', 'alpine', '_manifests', 'sha256')
  const hex = child.digest.slice('sha256:'.length)
  t.same(readFileSync(join(repoDir, hex)), child.body, 'body on disk')
  t.same(JSON.parse(readFileSync(join(repoDir, `${hex}.json`), 'utf8')), {
    mediaType: child.mediaType,
    size: child.body.length,
  }, 'sidecar holds only computed facts')
})

t.test('a cached digest is per repository: another repository asks the upstream', async (t) => {
  const { hub, proxy } = await setup(t)
  const img = hub.images['library/busybox:1.36']!
  const c = new PullClient(proxy.url)
  t.equal((await c.get(`/v2/library/busybox/manifests/${img.digest}`, { accept: ACCEPT_ALL })).status, 200)
  hub.reset()
  const other = await c.get(`/v2/library/alpine/manifests/${img.digest}`, { accept: ACCEPT_ALL })
  t.equal(other.status, 404, 'the upstream does not hold it there')
  t.ok(hub.count('registry', undefined, '/v2/library/alpine/manifests/') >= 1, 'asked upstream')
})

t.test('a credential not yet seen: one upstream HEAD, then the cache', async (t) => {
  const { hub, proxy } = await setup(t)
  const img = hub.images['library/busybox:1.36']!
  const path = `/v2/library/busybox/manifests/${img.digest}`
  await new PullClient(proxy.url).get(path, { accept: ACCEPT_ALL })
  const c = await freshToken(proxy.url, 'library/busybox')
  hub.reset()
  for (let i = 0; i < 3; i++) t.equal(sha256((await c.get(path, { accept: ACCEPT_ALL })).body), img.digest)
  t.equal(manifestRequests(hub, 'HEAD'), 1, 'asked once whether this credential may read it')
  t.equal(manifestRequests(hub, 'GET'), 0)
})
