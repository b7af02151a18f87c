// The cache directory resists planted files and keeps private layers
// private:
//
//   - a sidecar or owner file name in tmp/ planted as a symlink is never
//     written through (the fill replaces it, the target stays as it was);
//   - a planted sidecar that is not a plain length is not believed;
//   - blobs and manifests are created owner-only (files 0600, directories
//     0700), whatever the umask, so a hostPath mount does not publish them.
import { randomBytes } from 'node:crypto'
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { fillKey, sourceId } from '../../lib/cache/paths.js'
import { readTag, writeTag } from '../../lib/manifests/disk-store.js'
import { ManifestPaths } from '../../lib/manifests/paths.js'
import { request, startTestProxy } from '../fixtures/proxy.js'
import { startHarness } from './fixtures/harness.js'
import { startLenientRegistry } from './fixtures/lenient-registry.js'
import { sha256 } from '../fixtures/sha256.js'

function walk(dir: string, out: string[] = []): string[] {
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, d.name)
    out.push(p)
    if (d.isDirectory()) walk(p, out)
  }
  return out
}

t.test('planted symlinks in tmp/ are not written through', async (t) => {
  const layer = randomBytes(3 * 1024 * 1024)
  const D = sha256(layer)
  const hex = D.slice(7)
  const reg = await startLenientRegistry({ repos: { 'lib/app': { blobs: [layer] } } })
  t.teardown(() => reg.close())
  const root = t.testdir({ victim: {} })
  const cacheDir = join(root, 'cache')
  const tmp = join(cacheDir, 'tmp')
  mkdirSync(tmp, { recursive: true })
  const victims: string[] = []
  // Both the name this version uses and the one earlier versions used.
  for (const key of [fillKey(sourceId(reg.url), hex), hex]) {
    for (const suffix of ['.size~', '.owner']) {
      const victim = join(root, 'victim', `${key.slice(0, 8)}${suffix}`)
      writeFileSync(victim, 'precious')
      symlinkSync(victim, join(tmp, key + suffix))
      victims.push(victim)
    }
  }
  const proxy = await startTestProxy(t, { registryMap: { default: reg.url }, cacheDir })
  const o = await request(proxy.url, `/v2/lib/app/blobs/${D}`)
  t.ok(o.status === 200 && o.body.equals(layer), 'the pull works')
  t.ok(proxy.deps.cache?.cached(D), 'and is cached')
  for (const v of victims) t.equal(readFileSync(v, 'utf8'), 'precious', `${v.slice(root.length)}: not written through the planted link`)
})

t.test('a planted sidecar that is not a length is not believed', async (t) => {
  const layer = randomBytes(64 * 1024)
  const D = sha256(layer)
  const reg = await startLenientRegistry({ repos: { 'lib/app': { blobs: [layer] } } })
  t.teardown(() => reg.close())
  const cacheDir = t.testdir()
  const proxy = await startTestProxy(t, { registryMap: { default: reg.url }, cacheDir })
  const key = fillKey(sourceId(reg.url), D.slice(7))
  // Another process's fill, as it would look, with a sidecar that lies.
  writeFileSync(join(cacheDir, 'tmp', key), layer.subarray(0, 1000))
  symlinkSync('/proc/self/status', join(cacheDir, 'tmp', `${key}.size`))
  const o = await request(proxy.url, `/v2/lib/app/blobs/${D}`)
  t.ok(o.status === 200 && o.body.equals(layer), 'the pull still gets the right bytes')
})

t.test('cached blobs and manifests are owner-only', async (t) => {
  const old = process.umask(0o022)
  t.teardown(() => void process.umask(old))
  const h = await startHarness(t, { cache: true })
  h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json' })
  t.equal((await h.get(h.blobPath)).status, 200, 'a blob')
  const m = await h.get(`/v2/${h.repo}/manifests/v1`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } })
  t.equal(m.status, 200, 'and a manifest pulled')
  const cacheDir = h.cacheDir!
  const paths = [cacheDir, ...walk(cacheDir)].filter((p) => !lstatSync(p).isSymbolicLink())
  t.ok(paths.some((p) => p.endsWith(h.digest.slice(7))), 'the blob is there')
  t.ok(paths.some((p) => p.includes('manifests') && statSync(p).isFile()), 'a manifest file is there')
  const open = paths.filter((p) => (statSync(p).mode & 0o077) !== 0)
  t.same(open.map((p) => `${p.slice(cacheDir.length) || '/'} ${(statSync(p).mode & 0o777).toString(8)}`), [], 'nothing readable by group or others')
})

t.test('a planted symlink in manifests/ is not believed', async (t) => {
  const dir = t.testdir({ elsewhere: {}, manifests: {} })
  const paths = new ManifestPaths(dir)
  const record = { digest: `sha256:${'a'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json', resolvedAt: Date.now() }
  const real = join(dir, 'manifests', 'real.json')
  await writeTag(paths, real, record)
  t.equal((await readTag(real))?.record.digest, record.digest, 'a record of ours is read')
  const planted = join(dir, 'elsewhere', 'planted.json')
  writeFileSync(planted, readFileSync(real))
  const link = join(dir, 'manifests', 'link.json')
  symlinkSync(planted, link)
  t.equal(await readTag(link), null, 'the same record behind a symlink is not')
})
