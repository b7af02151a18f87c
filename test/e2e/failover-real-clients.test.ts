// Real clients pull through a two-member chain while either member fails:
// two Docker distribution registries holding the same image (the same
// digests), each behind a switchable front (down, 503, 429 with
// Retry-After, slow to answer headers), one map entry `default: [front 1,
// front 2]`, crproxy the real CLI without a cache (every pull goes
// upstream), skopeo, and containerd 1.6 through hosts.toml (front 1 is the
// registry it names, routed by `?ns=`). The fronts count requests that did
// not come through crproxy: a pull that only worked because containerd went
// around a failing crproxy would show there.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { REAL_TOOLS, requireTools } from '../fixtures/real/available.js'
import { buildImage, pushImage, skopeo, type BuiltImage } from '../fixtures/real/images.js'
import { sha256 } from '../fixtures/sha256.js'
import { startRegistry, type Registry } from '../fixtures/real/registry.js'
import { startCliProxy, type CliProxy } from '../fixtures/cli-proxy.js'
import { request } from '../fixtures/proxy.js'
import { parseContentLs, parseImagesLs, startContainerd, writeHostsDir, type Containerd } from '../fixtures/real/runtimes/containerd.js'
import { unmountUnder } from '../fixtures/real/runtimes/host.js'
import { startFaultFront, type FaultFront, type FrontMode } from '../failover/fixtures/fault-front.js'

t.setTimeout(240_000)

t.test('skopeo and containerd pull through a chain with either member failing', requireTools([...REAL_TOOLS, 'containerd', 'ctr']), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-failover-'))
  const closers: Array<() => Promise<unknown>> = []
  t.teardown(async () => {
    for (const c of closers.reverse()) await c().catch(() => {})
    await unmountUnder(dir)
    rmSync(dir, { recursive: true, force: true })
  })
  const [r1, r2]: Registry[] = await Promise.all([startRegistry({ dir: join(dir, 'r1') }), startRegistry({ dir: join(dir, 'r2') })])
  closers.push(() => r1!.close(), () => r2!.close())
  const img: BuiltImage = buildImage(join(dir, 'oci'), { seed: 'failover-e2e', layers: [48 * 1024, 512 * 1024], ref: 'app' })
  const pushed = await Promise.all([r1!, r2!].map((r) => pushImage(join(dir, 'oci'), img.ref, `docker://${r.host}/e2e/app:1`, { format: 'oci' })))
  t.same(pushed, [img.digest, img.digest], 'both registries hold the image under the same digest')
  const f1: FaultFront = await startFaultFront(r1!.url)
  const f2: FaultFront = await startFaultFront(r2!.url)
  closers.push(() => f1.close(), () => f2.close())

  const mapFile = join(dir, 'map.json')
  writeFileSync(mapFile, JSON.stringify({ default: [f1.url, f2.url] }))
  const proxy: CliProxy = await startCliProxy([
    '--registry-map', mapFile,
    '--connect-timeout', '1s', '--header-timeout', '1s', '--failover-backoff', '200ms', '--failover-backoff-max', '1s',
  ])
  closers.push(() => proxy.close())
  const ctd: Containerd = await startContainerd(join(dir, 'containerd'))
  closers.push(() => ctd.close())
  const mirror = `http://127.0.0.1:${proxy.port}`
  const hostsDir = writeHostsDir(join(dir, 'certs.d'), [f1.host], mirror)
  const help = async () => (JSON.parse((await request(proxy.url, '/help')).body.toString()) as { default: Array<{ healthy: boolean }> }).default

  let n = 0
  const skopeoPull = async (t: Test) => {
    const out = join(dir, `out${n++}`)
    await skopeo(['copy', '--src-tls-verify=false', `docker://127.0.0.1:${proxy.port}/e2e/app:1`, `dir:${out}`])
    t.equal(sha256(readFileSync(join(out, 'manifest.json'))), img.digest, 'skopeo: the manifest digest is the registries’')
    const files = readdirSync(out).filter((f) => /^[a-f0-9]{64}$/.test(f))
    t.same(files.map((f) => `sha256:${f}`).sort(), [...img.blobs].sort(), 'skopeo: every blob arrived')
    for (const f of files) t.equal(sha256(readFileSync(join(out, f))), `sha256:${f}`, `skopeo: blob ${f.slice(0, 12)} verifies`)
  }
  const ctrPull = async (t: Test) => {
    const ns = `n${n++}`
    const ref = `${f1.host}/e2e/app:1`
    await ctd.ctr(['-n', ns, 'images', 'pull', '--hosts-dir', hostsDir, ref], { timeoutMs: 60_000 })
    t.equal(parseImagesLs((await ctd.ctr(['-n', ns, 'images', 'ls'])).stdout).get(ref), img.digest, 'containerd: the image digest is the registries’')
    const content = parseContentLs((await ctd.ctr(['-n', ns, 'content', 'ls'])).stdout)
    t.same(img.blobs.filter((b) => !content.includes(b)), [], 'containerd: every blob is in its content store')
  }
  const counts = () => ({ one: f1.relayed.length, two: f2.relayed.length })
  const untilHealthy = async (i: number) => {
    const deadline = Date.now() + 10_000
    while (!(await help())[i]!.healthy) {
      if (Date.now() > deadline) throw new Error(`member ${i} did not come back: ${JSON.stringify(await help())}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  await t.test('both up: the primary serves', async (t) => {
    const before = counts()
    await skopeoPull(t)
    await ctrPull(t)
    t.ok(counts().one > before.one, 'the primary served')
    t.equal(counts().two, before.two, 'the fallback saw nothing')
  })

  const primaryFaults: Array<[string, FrontMode]> = [
    ['primary down', { kind: 'down' }],
    ['primary answers 503', { kind: 'status', status: 503 }],
    ['primary answers 429 with Retry-After', { kind: 'status', status: 429, retryAfter: '1' }],
    ['primary slow to answer headers', { kind: 'slow' }],
  ]
  for (const [name, mode] of primaryFaults) {
    await t.test(`${name}: no failed pull, the fallback serves, the probe brings traffic back`, async (t) => {
      await f1.set(mode)
      const before = counts()
      await skopeoPull(t)
      await ctrPull(t)
      t.ok(counts().two > before.two, 'the fallback served')
      t.equal((await help())[0]!.healthy, false, '/help: the primary is out of rotation')
      await f1.set({ kind: 'pass' })
      await untilHealthy(0)
      const back = counts()
      await skopeoPull(t)
      t.ok(counts().one > back.one, 'after the probe found it: the primary serves again')
      t.equal(counts().two, back.two, 'and the fallback sees nothing')
    })
  }

  await t.test('fallback down: no failed pull', async (t) => {
    await f2.set({ kind: 'down' })
    await skopeoPull(t)
    await ctrPull(t)
    // And now the primary fails too, briefly, while the fallback comes back.
    await f2.set({ kind: 'pass' })
    await f1.set({ kind: 'down' })
    await skopeoPull(t)
    await ctrPull(t)
    await f1.set({ kind: 'pass' })
  })
  const m = (await request(proxy.url, '/metrics')).body.toString()
  t.match(m, /crproxy_upstream_failovers_total\{[^}]*upstream="default"[^}]*\} [1-9]/, 'failovers counted')
  t.same([f1.direct, f2.direct], [0, 0], 'no client went around crproxy: every pull was crproxy’s')
})
