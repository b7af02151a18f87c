// --cache-max-size bounds the cache directory, not only its blobs: cached
// manifests and tag records are charged to the same LRU, so after pulling
// more than the bound the files on disk (blobs, manifests, tag records) add
// up to no more than it, and a restart with a lower bound trims them.
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { MT_OCI_CONFIG, MT_OCI_LAYER, MT_OCI_MANIFEST, seededBytes, startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient, startTestProxy } from '../fixtures/proxy.js'
import { ACCEPT_ALL, metric } from '../manifests/fixtures/setup.js'
import { sha256 } from '../fixtures/sha256.js'

const IMAGES = 40
const BOUND = 64 * 1024

/** Bytes of the regular files under dir. */
function du(dir: string): number {
  let total = 0
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name)
    if (d.isDirectory()) total += du(p)
    else if (d.isFile()) total += statSync(p).size
  }
  return total
}

/** Deletions run in the background: waits (generously) for the disk to come under the bound. */
async function settledUnder(dir: string, bound: number): Promise<number> {
  const deadline = Date.now() + 15_000
  let used = du(dir)
  while (used > bound && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50))
    used = du(dir)
  }
  return used
}

t.test('manifests and blobs together stay within --cache-max-size, across a restart', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 64 * 1024 })
  t.teardown(() => hub.close())
  const images = Array.from({ length: IMAGES }, (_, i) => {
    const repo = 'bounded/app'
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: i }))
    const layer = seededBytes(`bounded-layer-${i}`, 4096)
    const configDigest = hub.putBlob(config, repo)
    const layerDigest = hub.putBlob(layer, repo)
    const manifest = {
      schemaVersion: 2,
      mediaType: MT_OCI_MANIFEST,
      config: { mediaType: MT_OCI_CONFIG, digest: configDigest, size: config.length },
      layers: [{ mediaType: MT_OCI_LAYER, digest: layerDigest, size: layer.length }],
      annotations: { 'org.example.padding': 'x'.repeat(2048), 'org.example.n': String(i) },
    }
    const digest = hub.putManifest(repo, `v${i}`, MT_OCI_MANIFEST, manifest)
    return { repo, tag: `v${i}`, digest, blobs: [configDigest, layerDigest] }
  })
  const dir = t.testdir()
  const pullAll = async (c: PullClient) => {
    let wrong = 0
    for (const img of images) {
      const m = await c.get(`/v2/${img.repo}/manifests/${img.tag}`, { accept: ACCEPT_ALL })
      if (m.status !== 200 || sha256(m.body) !== img.digest) wrong++
      for (const b of img.blobs) {
        const r = await c.get(`/v2/${img.repo}/blobs/${b}`)
        if (r.status !== 200 || sha256(r.body) !== b) wrong++
      }
    }
    return wrong
  }

  const first = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir: dir, cacheMaxSize: BOUND })
  const client = new PullClient(first.url)
  t.equal(await pullAll(client), 0, 'every manifest and blob served correctly')
  await first.deps.manifests!.settled()
  const used = await settledUnder(dir, BOUND)
  t.ok(used <= BOUND, `files on disk: ${used} bytes, bound ${BOUND}`)
  const manifestBytes = await metric(first, 'crproxy_cache_manifest_bytes')
  t.ok(manifestBytes > 0, `manifests on disk are counted: ${manifestBytes} bytes`)
  const blobBytes = await metric(first, 'crproxy_cache_bytes')
  t.ok(manifestBytes + blobBytes <= BOUND, 'what the index counts is within the bound too')

  hub.reset()
  const last = images[IMAGES - 1]!
  const again = await client.get(`/v2/${last.repo}/manifests/${last.digest}`, { accept: ACCEPT_ALL })
  t.equal(again.status, 200)
  t.equal(hub.count('registry', 'GET', /\/manifests\//), 0, 'the most recent manifest is still served from the cache')
  await first.close()

  // A lower bound at the next start: the rebuilt index counts the manifests
  // found on disk with the blobs, and trims both.
  const lower = BOUND / 2
  const second = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir: dir, cacheMaxSize: lower })
  const trimmed = await settledUnder(dir, lower)
  t.ok(trimmed <= lower, `after a restart with a bound of ${lower}: ${trimmed} bytes`)
  t.ok((await metric(second, 'crproxy_cache_manifest_bytes')) > 0, 'manifests found on disk at start-up are counted')
  t.equal(await pullAll(new PullClient(second.url)), 0, 'and everything is still served correctly')
  await second.deps.manifests!.settled()
  t.ok((await settledUnder(dir, lower)) <= lower, 'and stays within the bound')
})
