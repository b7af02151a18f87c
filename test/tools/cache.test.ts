// `crproxy cache ls|du|verify|gc|rm` on the cache dir of a running crproxy
// (a child process) in front of a token-auth registry with CDN redirects.
import { closeSync, existsSync, openSync, readSync, utimesSync, writeFileSync, writeSync } from 'node:fs'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { requireTools } from '../fixtures/real/available.js'
import { blobGetCount } from '../fixtures/real/registry.js'
import { sha256 } from '../fixtures/sha256.js'
import { cli, setup, type Setup } from './fixtures/hub-proxy.js'

interface LsJson {
  blobs: Array<{ digest: string; size: number; lastUsed: string; upstreams: string[] }>
  manifests: Array<{ upstream: string; repository: string; digest: string; tags: string[]; size: number }>
  tags: Array<{ repository: string; tag: string; digest: string }>
  temps: Array<{ path: string; size: number }>
}

function blobPath(s: Setup, digest: string): string {
  const hex = digest.slice(7)
  return join(s.cacheDir, 'blobs', 'sha256', hex.slice(0, 2), hex)
}

async function ls(t: Test, s: Setup): Promise<LsJson> {
  const r = await cli(['cache', 'ls', '--json', '--cache-dir', s.cacheDir, '--registry-map', s.mapFile])
  t.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as LsJson
}

function checkPull(t: Test, out: string, digest: string, blobs: string[]): void {
  t.equal(sha256(readFileSync(join(out, 'manifest.json'))), digest, 'manifest digest')
  const files = readdirSync(out).filter((f) => /^[a-f0-9]{64}$/.test(f))
  t.same(files.map((f) => `sha256:${f}`).sort(), [...blobs].sort(), 'every blob')
  for (const f of files) t.equal(sha256(readFileSync(join(out, f))), `sha256:${f}`, `${f.slice(0, 12)} verifies`)
}

/** Every cache file's last use set to `at` (s since the epoch), so that the LRU order is known. */
function setLastUsed(path: string, at: number): void {
  utimesSync(path, at, at)
}

/** Every manifest-store file (recursively), for setting their times. */
function manifestFiles(s: Setup): string[] {
  const root = join(s.cacheDir, 'manifests')
  return (readdirSync(root, { recursive: true, encoding: 'utf8' }) as string[]).map((p) => join(root, p)).filter((p) => statSync(p).isFile() && !p.includes('/_tmp/'))
}

t.test('cache tools beside a running proxy', requireTools(), async (t) => {
  const s = await setup(t)
  const alpine = s.hub.images['library/alpine:3.19']!
  const busybox = s.hub.images['library/busybox:1.36']!
  await s.pull('library/alpine:3.19')
  await s.pull('library/busybox:1.36')
  const pulled = [...new Set([...alpine.blobs, ...busybox.blobs])]
  const sizes = { ...alpine.sizes, ...busybox.sizes }
  const dir = ['--cache-dir', s.cacheDir]

  await t.test('ls: what was pulled, with sizes, upstreams, repositories and tags', async (t) => {
    const j = await ls(t, s)
    t.same(j.blobs.map((b) => b.digest).sort(), [...pulled].sort())
    for (const b of j.blobs) {
      t.equal(b.size, sizes[b.digest], `${b.digest.slice(0, 19)} size`)
      t.same(b.upstreams, ['hub'], 'named by the registry map')
      t.ok(Date.now() - Date.parse(b.lastUsed) < 10 * 60_000, 'used just now')
    }
    const a = j.manifests.find((m) => m.digest === alpine.digest)!
    t.match(a, { repository: 'library/alpine', tags: ['3.19'] })
    t.ok(a.size > alpine.size, 'the manifest and its sidecar')
    t.match(j.manifests.find((m) => m.digest === busybox.digest), { repository: 'library/busybox', tags: ['1.36'] })
    const text = await cli(['cache', 'ls', ...dir])
    t.equal(text.code, 0)
    const lines = text.stdout.split('\n')
    t.match(lines[0], `Blobs: ${pulled.length}, `)
    t.match(lines[1], /^DIGEST +SIZE {2}LAST USED +UPSTREAMS$/)
    const sizeEnd = lines[1]!.indexOf('SIZE') + 4
    const lastUsed = lines[1]!.indexOf('LAST USED')
    for (const l of lines.slice(2, 2 + pulled.length)) {
      t.match(l, /^sha256:[a-f0-9]{64} +\d+(\.\d)? (B|KiB|MiB) {2}\d{4}-\d\d-\d\d \d\d:\d\d \(\d+[sm] ago\) {2}\S+/)
      t.equal(/^sha256:\S+ +\S+ \S+/.exec(l)![0].length, sizeEnd, 'sizes aligned right under SIZE')
      t.equal(l.indexOf(' (') - 16, lastUsed, 'times under LAST USED')
    }
    t.match(text.stdout, /\nManifests: 2, [\d.]+ (B|KiB)\nUPSTREAM +REPOSITORY +TAGS +DIGEST +SIZE +LAST USED\n/)
    t.match(text.stdout, new RegExp(`default +library/alpine +3\\.19 +${alpine.digest}`))
  })

  await t.test('du: totals match what was pulled', async (t) => {
    const r = await cli(['cache', 'du', '--json', ...dir])
    t.equal(r.code, 0, r.stderr)
    const d = JSON.parse(r.stdout) as { blobs: { files: number; bytes: number }; manifests: { files: number; bytes: number }; temps: { files: number } }
    t.same(d.blobs, { files: pulled.length, bytes: pulled.reduce((n, b) => n + sizes[b]!, 0) })
    t.equal(d.manifests.files, 4, 'two manifests, each with its sidecar')
    t.ok(d.manifests.bytes > alpine.size + busybox.size)
    t.equal(d.temps.files, 0)
    const text = await cli(['cache', 'du', ...dir])
    t.match(text.stdout, new RegExp(`^blobs +[\\d.]+ (KiB|MiB) +${d.blobs.bytes} +${pulled.length} blobs$`, 'm'))
    t.match(text.stdout, /^total +/m)
  })

  await t.test('verify: a flipped byte is found, removed, exit 1; the proxy fetches the blob again', async (t) => {
    const used = (await ls(t, s)).blobs.map((b) => `${b.digest} ${b.lastUsed}`)
    const clean = await cli(['cache', 'verify', ...dir])
    t.equal(clean.code, 0, clean.stderr)
    t.same((await ls(t, s)).blobs.map((b) => `${b.digest} ${b.lastUsed}`), used, 'reading every blob does not make it look used')
    t.match(clean.stdout, `verified ${pulled.length} blobs`)
    t.match(clean.stdout, /all good/)
    const layer = alpine.layers[alpine.layers.length - 1]!
    const fd = openSync(blobPath(s, layer), 'r+')
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, 1000)
    b[0] = b[0]! ^ 0xff
    writeSync(fd, b, 0, 1, 1000)
    closeSync(fd)
    const r = await cli(['cache', 'verify', ...dir])
    t.equal(r.code, 1)
    t.match(r.stdout, new RegExp(`^bad blob ${layer}: content is sha256:[a-f0-9]{64} \\(${sizes[layer]} bytes\\); removed$`, 'm'))
    t.match(r.stdout, /1 bad, removed/)
    t.notOk(existsSync(blobPath(s, layer)), 'the file is gone')
    t.notOk(existsSync(join(s.cacheDir, 'origins', layer.slice(7, 9), layer.slice(7))), 'and its origins record')
    await s.resetLogs()
    checkPull(t, await s.pull('library/alpine:3.19'), alpine.digest, alpine.blobs)
    t.equal(await blobGetCount(s.hub.registry, layer), 1, 'the removed blob was fetched again')
    t.equal(await blobGetCount(s.hub.registry), 1, 'and nothing else')
    t.equal((await cli(['cache', 'verify', ...dir])).code, 0, 'clean again')
  })

  await t.test('gc --max-size evicts the least recently used first', async (t) => {
    // Known order: manifests newest, then blobs one minute apart.
    const now = Math.floor(Date.now() / 1000)
    for (const f of manifestFiles(s)) setLastUsed(f, now)
    const order = [...pulled].sort()
    order.forEach((d, i) => setLastUsed(blobPath(s, d), now - 3600 + i * 60)) // order[last] newest
    const before = await ls(t, s)
    const manifestBytes = JSON.parse((await cli(['cache', 'du', '--json', ...dir])).stdout).manifests.bytes + JSON.parse((await cli(['cache', 'du', '--json', ...dir])).stdout).tags.bytes
    const keep = order.slice(-2)
    const max = manifestBytes + keep.reduce((n, d) => n + sizes[d]!, 0)
    const dry = await cli(['cache', 'gc', '--dry-run', '--max-size', String(max), ...dir])
    t.equal(dry.code, 0, dry.stderr)
    t.match(dry.stdout, /^would free /m)
    t.equal((await ls(t, s)).blobs.length, before.blobs.length, '--dry-run removes nothing')
    const r = await cli(['cache', 'gc', '--json', '--max-size', String(max), ...dir])
    t.equal(r.code, 0, r.stderr)
    const out = JSON.parse(r.stdout) as { evicted: Array<{ kind: string; digest: string; result: string }>; after: number }
    t.same(out.evicted.map((e) => e.digest), order.slice(0, -2), 'the oldest blobs, oldest first')
    t.ok(out.evicted.every((e) => e.kind === 'blob' && e.result === 'removed'))
    t.ok(out.after <= max)
    const after = await ls(t, s)
    t.same(after.blobs.map((b) => b.digest).sort(), [...keep].sort(), 'the newest that fit are kept')
    t.equal(after.manifests.length, 2)
  })

  await t.test('gc --older-than evicts by age', async (t) => {
    await s.pull('library/busybox:1.36')
    await s.pull('library/alpine:3.19')
    const now = Math.floor(Date.now() / 1000)
    const old = busybox.blobs
    for (const d of pulled) setLastUsed(blobPath(s, d), old.includes(d) ? now - 10 * 86400 : now - 3 * 86400)
    const r = await cli(['cache', 'gc', '--older-than', '7d', ...dir])
    t.equal(r.code, 0, r.stderr)
    for (const d of old) t.match(r.stdout, new RegExp(`^removed +[\\d.]+ \\S+ +blob ${d}$`, 'm'))
    t.match(r.stdout, /^freed [\d.]+ \S+ \(3 files\); [\d.]+ \S+ left$/m)
    t.same((await ls(t, s)).blobs.map((b) => b.digest).sort(), [...alpine.blobs].sort(), '10 days old: gone; 3 days old: kept')
  })

  await t.test('rm removes blobs and manifests by digest', async (t) => {
    const layer = alpine.layers[0]!
    const r = await cli(['cache', 'rm', ...dir, layer, alpine.digest])
    t.equal(r.code, 0, r.stderr)
    t.match(r.stdout, `${layer}: removed blob\n`)
    t.match(r.stdout, `${alpine.digest}: removed manifest default/library/alpine, tag default/library/alpine:3.19`)
    const j = await ls(t, s)
    t.notOk(j.blobs.some((b) => b.digest === layer))
    t.notOk(j.manifests.some((m) => m.digest === alpine.digest))
    const again = await cli(['cache', 'rm', ...dir, layer])
    t.equal(again.code, 1, 'a digest that is not cached: exit 1')
    t.match(again.stdout, `${layer}: not in the cache`)
    checkPull(t, await s.pull('library/alpine:3.19'), alpine.digest, alpine.blobs)
  })

  await t.test('a fill in progress (tmp/) is counted, never touched', async (t) => {
    const temp = join(s.cacheDir, 'tmp', `${'0'.repeat(16)}-${'a'.repeat(64)}`)
    writeFileSync(temp, Buffer.alloc(4096))
    const du = JSON.parse((await cli(['cache', 'du', '--json', ...dir])).stdout) as { temps: { files: number; bytes: number } }
    t.same(du.temps, { files: 1, bytes: 4096 })
    const r = await cli(['cache', 'gc', '--max-size', '1', ...dir])
    t.equal(r.code, 0, r.stderr)
    t.ok(existsSync(temp), 'still there')
    t.same((await ls(t, s)).blobs, [], 'everything else evicted')
  })

  await t.test('pulls while gc evicts everything, over and over: every pull succeeds, verified', async (t) => {
    let stop = false
    let rounds = 0
    const gc = (async () => {
      while (!stop) {
        const r = await cli(['cache', 'gc', '--max-size', '1', ...dir])
        t.equal(r.code, 0, r.stderr)
        rounds++
      }
    })()
    try {
      for (let i = 0; i < 4; i++) {
        const [a, b] = await Promise.all([s.pull('library/alpine:3.19'), s.pull('library/busybox:1.36')])
        checkPull(t, a, alpine.digest, alpine.blobs)
        checkPull(t, b, busybox.digest, busybox.blobs)
      }
    } finally {
      stop = true
      await gc
    }
    t.ok(rounds >= 4, `gc ran ${rounds} times meanwhile`)
  })

  await t.test('bad arguments and unusable dirs: exit 2, one line', async (t) => {
    const file = join(s.dir, 'a-file')
    writeFileSync(file, '')
    for (const argv of [
      ['cache'],
      ['cache', 'ls'],
      ['cache', 'frob', ...dir],
      ['cache', 'ls', '--cache-dir', join(s.dir, 'missing')],
      ['cache', 'du', '--cache-dir', file],
      ['cache', 'gc', ...dir],
      ['cache', 'gc', '--max-size', 'lots', ...dir],
      ['cache', 'gc', '--older-than', 'ages', ...dir],
      ['cache', 'rm', ...dir],
      ['cache', 'rm', 'sha256:abc', ...dir],
      ['cache', 'ls', '--max-size', '1', ...dir],
      ['cache', 'ls', '--bogus', ...dir],
    ]) {
      const r = await cli(argv)
      t.equal(r.code, 2, argv.join(' '))
      if (argv.length > 1) t.match(r.stderr, /^crproxy: .+\n$/, `one line: ${r.stderr.trim()}`)
    }
    const env = await cli(['cache', 'du'], { env: { CRPROXY_CACHE_DIR: s.cacheDir } })
    t.equal(env.code, 0, 'CRPROXY_CACHE_DIR names the dir')
  })
})
