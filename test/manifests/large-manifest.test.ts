// Manifests over 4 MiB (containerd refuses them) are streamed through
// uncached: never buffered whole, never stored, still verified by digest.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ACCEPT_ALL, loggedIn, manifestRequests, MT, setup } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('a manifest over 4 MiB streams through uncached', async (t) => {
  const { hub, proxy, dir } = await setup(t)
  const body = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, annotations: { padding: 'x'.repeat(4 * 1024 * 1024 + 10) } }),
  )
  const digest = hub.putManifest('library/huge', 'v1', MT.ociManifest, body)
  const c = await loggedIn(proxy.url, 'library/huge')
  for (const path of [`/v2/library/huge/manifests/${digest}`, '/v2/library/huge/manifests/v1']) {
    hub.reset()
    for (let i = 0; i < 2; i++) {
      const res = await c.get(path, { accept: ACCEPT_ALL })
      t.equal(res.status, 200)
      t.equal(sha256(res.body), digest)
      t.equal(Number(res.headers['content-length']), body.length)
    }
    t.equal(manifestRequests(hub, 'GET'), 2, `${path}: both GETs upstream`)
  }
  await proxy.deps.manifests!.settled()
  t.notOk(existsSync(join(dir!, 'manifests', 'default', 'library', 'huge', '_manifests', 'sha256', digest.slice(7))), 'not on disk')

  // Exactly 4 MiB is still a manifest containerd takes: cached.
  const pad = 4 * 1024 * 1024 - Buffer.byteLength(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, annotations: { padding: '' } }))
  const edge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociManifest, annotations: { padding: 'y'.repeat(pad) } }))
  t.equal(edge.length, 4 * 1024 * 1024)
  const edgeDigest = hub.putManifest('library/huge', null, MT.ociManifest, edge)
  await c.get(`/v2/library/huge/manifests/${edgeDigest}`, { accept: ACCEPT_ALL })
  hub.reset()
  t.equal(sha256((await c.get(`/v2/library/huge/manifests/${edgeDigest}`, { accept: ACCEPT_ALL })).body), edgeDigest)
  t.equal(manifestRequests(hub, 'GET'), 0, '4 MiB exactly: from the cache')
})
