// Real software end to end: Docker distribution 2.8 with token auth and blobs
// redirected to an nginx "CDN" that refuses Authorization, skopeo as the
// client, and crproxy (the real CLI) in between.
import { lookup } from 'node:dns/promises'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { requireTools } from '../fixtures/real/available.js'
import { startHubLike, type HubImage, type HubLike } from '../fixtures/real/hub.js'
import { blobGetCount } from '../fixtures/real/registry.js'
import { skopeo } from '../fixtures/real/images.js'
import { startCliProxy, type CliProxy } from '../fixtures/cli-proxy.js'
import { sha256 } from '../fixtures/sha256.js'

function checkCopy(t: Test, out: string, img: HubImage, blobs: string[] = img.blobs): void {
  t.equal(sha256(readFileSync(join(out, 'manifest.json'))), img.digest, 'manifest digest equals the upstream’s')
  const files = readdirSync(out).filter((f) => /^[a-f0-9]{64}$/.test(f))
  t.same(files.map((f) => `sha256:${f}`).sort(), [...blobs].sort(), 'every blob arrived')
  for (const f of files) t.equal(sha256(readFileSync(join(out, f))), `sha256:${f}`, `blob ${f.slice(0, 12)} verifies`)
}

async function resolvesToLoopback(name: string): Promise<boolean> {
  try {
    return (await lookup(name)).address === '127.0.0.1'
  } catch {
    return false
  }
}

t.test('skopeo pulls through crproxy from a token-auth registry with CDN redirects', requireTools(), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-e2e-'))
  let hub: HubLike | undefined
  let proxy: CliProxy | undefined
  t.teardown(async () => {
    await proxy?.close()
    await hub?.close()
    rmSync(dir, { recursive: true, force: true })
  })
  hub = await startHubLike(join(dir, 'hub'))
  const mapFile = join(dir, 'registrymap.json')
  writeFileSync(mapFile, JSON.stringify({ default: hub.registry.url, hub: hub.registry.url }))
  proxy = await startCliProxy([
    '--registry-map', mapFile, '--domain-suffix', 'crproxy.test', '--cache-dir', join(dir, 'cache'),
    '--redirect-allow', hub.redirectAllow.join(','),
  ])
  const p = proxy
  const h = hub
  let n = 0
  const copy = async (src: string, extra: string[] = []) => {
    const out = join(dir, `out${n++}`)
    await skopeo(['copy', '--src-tls-verify=false', ...extra, src, `dir:${out}`])
    return out
  }

  await t.test('by tag through the default route', async (t) => {
    const img = h.images['library/alpine:3.19']!
    checkCopy(t, await copy(`docker://127.0.0.1:${p.port}/library/alpine:3.19`), img)
  })

  await t.test('by digest, Docker schema 2', async (t) => {
    const img = h.images['library/busybox:1.36']!
    checkCopy(t, await copy(`docker://127.0.0.1:${p.port}/library/busybox@${img.digest}`), img)
  })

  await t.test('multi-platform index with --all', async (t) => {
    const img = h.images['multi/app:1']!
    const out = await copy(`docker://127.0.0.1:${p.port}/multi/app:1`, ['--all'])
    t.equal(sha256(readFileSync(join(out, 'manifest.json'))), img.digest, 'index digest equals the upstream’s')
    for (const m of img.manifests) {
      const f = join(out, `${m.digest.slice(7)}.manifest.json`)
      t.equal(sha256(readFileSync(f)), m.digest, `${m.arch} manifest`)
    }
  })

  await t.test('a private repository needs credentials', async (t) => {
    const img = h.images['private/secret:1']!
    await t.rejects(copy(`docker://127.0.0.1:${p.port}/private/secret:1`), 'refused anonymously')
    checkCopy(t, await copy(`docker://127.0.0.1:${p.port}/private/secret:1`, ['--src-creds', img.creds!]), img)
  })

  const hostName = 'hub.crproxy.test'
  const resolvable = await resolvesToLoopback(hostName)
  if (!resolvable && process.env['CI']) throw new Error(`${hostName} does not resolve to 127.0.0.1: .ci/run adds it to /etc/hosts`)
  const skip = resolvable ? false : `${hostName} does not resolve to 127.0.0.1 (add it to /etc/hosts to run this locally)`
  await t.test('through a <key>.<suffix> Host name', { skip }, async (t) => {
    const img = h.images['library/alpine:3.19']!
    checkCopy(t, await copy(`docker://${hostName}:${p.port}/library/alpine:3.19`), img)
  })

  await t.test('a second pull makes zero upstream blob requests', async (t) => {
    const img = h.images['library/alpine:3.19']!
    const before = await blobGetCount(h.registry)
    checkCopy(t, await copy(`docker://127.0.0.1:${p.port}/library/alpine:3.19`), img)
    t.equal(await blobGetCount(h.registry), before, 'every blob came from the cache')
  })
})
