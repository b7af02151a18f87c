// Two crproxy processes (as on a node running one per core) sharing one
// cache directory: a blob both are asked for at once is downloaded once.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient, request } from '../fixtures/proxy.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('two processes, one cache dir, one upstream download', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 32 * 1024 * 1024 })
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify({ default: hub.registryUrl }))
  const args = ['--registry-map', map, '--cache-dir', join(dir, 'cache'), '--redirect-allow', hub.redirectAllow.join(',')]
  const [a, b] = await Promise.all([startCliProxy(args), startCliProxy(args)])
  t.teardown(() => Promise.all([a!.close(), b!.close()]))
  const img = hub.images['library/big:1']!
  const digest = img.blobs[img.blobs.length - 1]!
  const ca = new PullClient(a!.url)
  await ca.get('/v2/library/big/manifests/1', { accept: 'application/vnd.oci.image.manifest.v1+json' })
  hub.reset()
  const auth = { authorization: `Bearer ${ca.token}` }
  const path = `/v2/library/big/blobs/${digest}`
  const results = await Promise.all([
    request(a!.url, path, { headers: auth }),
    request(b!.url, path, { headers: auth }),
    request(a!.url, path, { headers: auth }),
    request(b!.url, path, { headers: auth }),
  ])
  for (const r of results) {
    t.equal(r.status, 200)
    t.equal(sha256(r.body), digest)
  }
  t.equal(hub.downloads('cdn'), 1, 'one upstream blob download across both processes')
})
