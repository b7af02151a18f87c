// `crproxy prefetch` against a token-auth registry with CDN redirects,
// through a running crproxy: afterwards a real client's pull (skopeo) makes
// no upstream blob request at all.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { requireTools } from '../fixtures/real/available.js'
import { inspectRaw } from '../fixtures/real/images.js'
import { sha256 } from '../fixtures/sha256.js'
import { cli, setup, type Setup } from './fixtures/hub-proxy.js'

function blobsIn(out: string): string[] {
  return readdirSync(out).filter((f) => /^[a-f0-9]{64}$/.test(f)).map((f) => `sha256:${f}`).sort()
}

function checkCopy(t: Test, out: string, digest: string, blobs: string[]): void {
  t.equal(sha256(readFileSync(join(out, 'manifest.json'))), digest, 'manifest digest as the upstream serves it')
  t.same(blobsIn(out), [...blobs].sort(), 'every blob arrived')
  for (const b of blobsIn(out)) t.equal(sha256(readFileSync(join(out, b.slice(7)))), b, `${b.slice(0, 19)} verifies`)
}

/** The config and layers of one child manifest of an index, read from the registry directly. */
async function childBlobs(s: Setup, repo: string, digest: string): Promise<string[]> {
  const raw = await inspectRaw(`docker://${s.hub.registry.host}/${repo}@${digest}`, { creds: 'pusher:pusherpw' })
  const m = JSON.parse(raw.toString('utf8')) as { config: { digest: string }; layers: Array<{ digest: string }> }
  return [m.config.digest, ...m.layers.map((l) => l.digest)]
}

t.test('prefetch', requireTools(), async (t) => {
  const s = await setup(t)
  const proxy = ['--proxy', s.proxy.url]

  await t.test('after prefetch a pull makes zero upstream blob requests', async (t) => {
    const img = s.hub.images['library/alpine:3.19']!
    const r = await cli(['prefetch', ...proxy, 'library/alpine:3.19'])
    t.equal(r.code, 0, r.stderr)
    t.equal(r.stderr, '')
    for (const b of img.blobs) t.match(r.stdout, new RegExp(`^library/alpine:3\\.19\\s+${b}\\s+\\S+ \\S+\\s+\\d+\\.\\d\\ds$`, 'm'), `a line for ${b.slice(0, 19)}`)
    t.match(r.stdout, /^prefetched 1 of 1 images: 4 blobs, /m)
    t.ok((await s.upstreamBlobGets()) >= img.blobs.length, 'prefetch itself went upstream')
    await s.resetLogs()
    checkCopy(t, await s.pull('library/alpine:3.19'), img.digest, img.blobs)
    t.equal(await s.upstreamBlobGets(), 0, 'no blob GET at the registry or the CDN')
  })

  await t.test('one platform of an index, by --platform', async (t) => {
    const img = s.hub.images['multi/app:1']!
    const arm = img.manifests.find((m) => m.arch === 'arm64')!
    const amd = img.manifests.find((m) => m.arch === 'amd64')!
    const armBlobs = await childBlobs(s, 'multi/app', arm.digest)
    const amdBlobs = await childBlobs(s, 'multi/app', amd.digest)
    await s.resetLogs()
    const r = await cli(['prefetch', ...proxy, '--platform', 'linux/arm64', 'multi/app:1'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, `multi/app:1: ${img.digest} (linux/arm64/v8), 3 blobs`)
    for (const b of armBlobs) t.match(r.stdout, b)
    for (const b of amdBlobs) t.notMatch(r.stdout, b, `amd64 blob ${b.slice(0, 19)} not fetched`)
    await s.resetLogs()
    const out = await s.pull('multi/app:1', ['--override-arch', 'arm64', '--override-variant', 'v8'])
    t.same(blobsIn(out), [...armBlobs].sort(), 'skopeo pulled the arm64 image')
    t.equal(await s.upstreamBlobGets(), 0, 'from the cache alone')
  })

  await t.test('the host platform by default; every platform with --all-platforms', async (t) => {
    const img = s.hub.images['multi/list:1']!
    const amd = img.manifests.find((m) => m.arch === 'amd64')!
    const r = await cli(['prefetch', ...proxy, 'multi/list:1'])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, `(linux/amd64), 3 blobs`, 'linux/amd64 only')
    const all = await cli(['prefetch', ...proxy, '--all-platforms', 'multi/list:1'])
    t.equal(all.code, 0, all.stderr)
    t.match(all.stdout, /\(linux\/amd64, linux\/arm64\/v8\), 6 blobs/)
    await s.resetLogs()
    const out = await s.pull('multi/list:1', ['--all'])
    t.equal(sha256(readFileSync(join(out, 'manifest.json'))), img.digest)
    t.ok(readdirSync(out).includes(`${amd.digest.slice(7)}.manifest.json`))
    t.equal(blobsIn(out).length, 6)
    t.equal(await s.upstreamBlobGets(), 0, 'every platform from the cache')
  })

  await t.test('a private image: refused without credentials, prefetched with them', async (t) => {
    const img = s.hub.images['private/secret:1']!
    const anon = await cli(['prefetch', ...proxy, 'private/secret:1'])
    t.equal(anon.code, 1)
    t.match(anon.stderr, /private\/secret:1: manifest 1: HTTP 401/, 'names the image and the refusal')
    const r = await cli(['prefetch', ...proxy, '--creds', img.creds!, 'private/secret:1'])
    t.equal(r.code, 0, r.stderr)
    await s.resetLogs()
    checkCopy(t, await s.pull('private/secret:1', ['--src-creds', img.creds!]), img.digest, img.blobs)
    t.equal(await s.upstreamBlobGets(), 0)
    await t.rejects(s.pull('private/secret:1'), 'the cached copy is still refused anonymously')
  })

  await t.test('--auth-file, with the proxy named as the registry, and -f FILE', async (t) => {
    const img = s.hub.images['private/secret:1']!
    const authFile = join(s.dir, 'config.json')
    writeFileSync(authFile, JSON.stringify({ auths: { [`127.0.0.1:${s.proxy.port}`]: { auth: Buffer.from(img.creds!).toString('base64') } } }), { mode: 0o600 })
    const list = join(s.dir, 'images.txt')
    writeFileSync(list, `# warm before the job\n127.0.0.1:${s.proxy.port}/private/secret:1\n\n127.0.0.1:${s.proxy.port}/library/busybox:1.36  # schema 2\n`)
    const r = await cli(['prefetch', ...proxy, '--auth-file', authFile, '-f', list])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /^prefetched 2 of 2 images/m)
  })

  await t.test('a registry named in the reference is routed with ?ns=', async (t) => {
    const img = s.hub.images['library/busybox:1.36']!
    const r = await cli(['prefetch', ...proxy, `${s.hub.registry.host}/library/busybox@${img.digest}`])
    t.equal(r.code, 0, r.stderr)
    const other = await cli(['prefetch', ...proxy, 'ghcr.io/org/app:1'])
    t.equal(other.code, 1)
    t.match(other.stderr, /ghcr\.io\/org\/app:1: manifest 1: HTTP 404: NAME_UNKNOWN registry ghcr\.io is not mirrored here/)
  })

  await t.test('a failing reference among good ones: exit 1, naming it; the rest is prefetched', async (t) => {
    const r = await cli(['prefetch', ...proxy, 'library/busybox:1.36', 'library/nope:1'])
    t.equal(r.code, 1)
    t.match(r.stderr, /1 failed:\n {2}library\/nope:1: manifest 1: HTTP 404/)
    t.match(r.stdout, /^prefetched 1 of 2 images/m)
  })

  await t.test('on a terminal: a progress bar, redrawn in place', async (t) => {
    const r = await cli(['prefetch', ...proxy, 'library/busybox:1.36'], { tty: true })
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, /\r\x1b\[K\[========================\] \d+\.\d KiB \/ \d+\.\d KiB {2}3\/3 blobs {2}\S+ \S+\/s\n/)
    t.notMatch(r.stdout, /^library\/busybox:1\.36 +sha256:/m, 'no per-blob lines')
  })

  await t.test('bad arguments: exit 2, one line', async (t) => {
    for (const argv of [
      [],
      ['--proxy', 'ftp://x', 'alpine'],
      ['--platform', 'linux', 'alpine'],
      ['--platform', 'linux/amd64', '--all-platforms', 'alpine'],
      ['Alpine:UPPER@x'],
      ['--creds', 'nocolon', 'alpine'],
      ['-f', join(s.dir, 'missing.txt')],
      ['--bogus', 'alpine'],
    ]) {
      const r = await cli(['prefetch', ...argv])
      t.equal(r.code, 2, argv.join(' '))
      t.match(r.stderr, /^crproxy: .+\n$/, `one line: ${r.stderr.trim()}`)
    }
  })

  await t.test('the proxy is down: exit 1, naming it', async (t) => {
    const r = await cli(['prefetch', '--proxy', 'http://127.0.0.1:9', 'library/busybox:1.36'])
    t.equal(r.code, 1)
    t.match(r.stderr, /library\/busybox:1\.36: .*ECONNREFUSED/)
  })
})
