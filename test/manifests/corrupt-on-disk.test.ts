// A cached manifest is checked against its digest whenever it is read from
// disk: a file changed behind the cache's back is detected, deleted and
// fetched again; the client only ever sees the right bytes.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { PullClient } from '../fixtures/proxy.js'
import { ACCEPT_ALL, loggedIn, manifestRequests, metric, setup } from './fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('corrupted on disk → detected after a restart and refetched', async (t) => {
  const first = await setup(t)
  const { hub, dir } = first
  const img = hub.images['library/busybox:1.36']!
  const path = `/v2/library/busybox/manifests/${img.digest}`
  t.equal((await new PullClient(first.proxy.url).get(path, { accept: ACCEPT_ALL })).status, 200)
  await first.proxy.close()

  const file = join(dir!, 'manifests', 'default', 'library', 'busybox', '_manifests', 'sha256', img.digest.slice(7))
  const bad = Buffer.from(readFileSync(file))
  bad[10] = bad[10]! ^ 0x01
  writeFileSync(file, bad)

  // A new process over the same dir: its memory is empty, so it reads the disk.
  const { proxy } = await setup(t, { hub, cacheDir: dir })
  const c = await loggedIn(proxy.url, 'library/busybox')
  hub.reset()
  const res = await c.get(path, { accept: ACCEPT_ALL })
  t.equal(res.status, 200)
  t.equal(sha256(res.body), img.digest, 'the right bytes')
  t.equal(manifestRequests(hub, 'GET'), 1, 'refetched from the upstream')
  t.equal(await metric(proxy, 'crproxy_manifest_cache_corrupt_total'), 1)
  t.same(readFileSync(file), img.body, 'the file on disk is whole again')

  hub.reset()
  t.equal(sha256((await c.get(path, { accept: ACCEPT_ALL })).body), img.digest)
  t.equal(manifestRequests(hub, 'GET'), 0, 'and served from the cache again')
})

t.test('a sidecar that does not parse is a miss, never a wrong media type', async (t) => {
  const first = await setup(t)
  const { hub, dir } = first
  const img = hub.images['library/busybox:1.36']!
  const path = `/v2/library/busybox/manifests/${img.digest}`
  await new PullClient(first.proxy.url).get(path, { accept: ACCEPT_ALL })
  await first.proxy.close()
  const sidecar = join(dir!, 'manifests', 'default', 'library', 'busybox', '_manifests', 'sha256', `${img.digest.slice(7)}.json`)
  t.ok(existsSync(sidecar))
  writeFileSync(sidecar, '{"mediaType":"text/html","size":')
  const { proxy } = await setup(t, { hub, cacheDir: dir })
  const c = await loggedIn(proxy.url, 'library/busybox')
  hub.reset()
  const res = await c.get(path, { accept: ACCEPT_ALL })
  t.equal(res.headers['content-type'], img.mediaType)
  t.equal(manifestRequests(hub, 'GET'), 1)
})
