// containerd 1.6 pulls through crproxy configured as the README says: one
// hosts.toml per registry, the registry as `server`, crproxy as a mirror for
// pull and resolve. containerd then adds `?ns=<registry>` to every request,
// and crproxy routes by it (its `default` is a decoy registry holding another
// image under the same name, so a wrong route shows as a wrong digest).
import { once } from 'node:events'
import { createReadStream, mkdtempSync, rmSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { REAL_TOOLS, requireTools } from '../../fixtures/real/available.js'
import { blobGetCount, registryRequests, type Registry } from '../../fixtures/real/registry.js'
import type { CliProxy } from '../../fixtures/cli-proxy.js'
import { startRuntimeUpstreams, startProxy, type RuntimeUpstreams } from '../../fixtures/real/runtimes/upstreams.js'
import {
  parseContentLs,
  parseHttpDump,
  parseImagesLs,
  startContainerd,
  writeHostsDir,
  type Containerd,
} from '../../fixtures/real/runtimes/containerd.js'
import { directRequests, proxyAccess, proxyBlobGets, waitNoFills } from '../../fixtures/real/runtimes/proxy-log.js'
import { mountsUnder, pidAlive, unmountUnder } from '../../fixtures/real/runtimes/host.js'

t.setTimeout(180_000)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function fileSha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(path)
      .on('data', (c) => h.update(c))
      .on('end', () => resolve(`sha256:${h.digest('hex')}`))
      .on('error', reject)
  })
}

t.test('containerd pulls through crproxy as a hosts.toml mirror', requireTools([...REAL_TOOLS, 'containerd', 'ctr']), async (t) => {
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-containerd-'))
  let ups: RuntimeUpstreams | undefined
  let proxy: CliProxy | undefined
  let ctd: Containerd | undefined
  t.teardown(async () => {
    await ctd?.close()
    await proxy?.close()
    await ups?.close()
    await unmountUnder(dir)
    rmSync(dir, { recursive: true, force: true })
  })

  ups = await startRuntimeUpstreams(join(dir, 'upstreams'), { big: true })
  const { hub, decoy, decoyAlpine, basic, basicSecret } = ups
  const big = ups.big!
  // No --domain-suffix: every request names crproxy by IP, so only ?ns= can
  // route it away from the decoy default.
  proxy = await startProxy(join(dir, 'crproxy'), { default: decoy.url, hub: hub.registry.url, private: basic.url }, [
    '--redirect-allow',
    hub.redirectAllow.join(','),
  ])
  ctd = await startContainerd(join(dir, 'containerd'))
  t.comment(`set-up took ${Date.now() - started} ms`)
  const p = proxy
  const c = ctd
  const mirror = `http://127.0.0.1:${p.port}`
  const hostsDir = writeHostsDir(join(dir, 'certs.d'), [hub.registry.host, basic.host], mirror)
  const hubHost = hub.registry.host
  const nsHub = `ns=${encodeURIComponent(hubHost)}`

  const pull = (ns: string, ref: string, extra: string[] = [], timeoutMs = 60_000) =>
    c.ctr(['-n', ns, 'images', 'pull', '--hosts-dir', hostsDir, ...extra, ref], { timeoutMs })
  const imagesLs = async (ns: string) => parseImagesLs((await c.ctr(['-n', ns, 'images', 'ls'])).stdout)
  const contentLs = async (ns: string) => parseContentLs((await c.ctr(['-n', ns, 'content', 'ls'])).stdout)
  /** `ctr images check` status of `ref` (e.g. 'complete (4/4)') */
  const check = async (ns: string, ref: string) => {
    const out = (await c.ctr(['-n', ns, 'images', 'check', `name==${ref}`])).stdout
    const line = out.split('\n').find((l) => l.startsWith(`${ref} `)) ?? ''
    return line.trim().split(/\s+/).slice(3, 5).join(' ')
  }
  // Requests a registry saw that crproxy did not send, expected ones: after
  // crproxy refuses (401), containerd tries the next host, the registry itself.
  const expectedDirect = new Map<string, string[]>()
  const newDirect = async (reg: Registry, known: string[]) => {
    const all = await directRequests(reg, p.log())
    const rest = [...all]
    for (const k of known) {
      const i = rest.indexOf(k)
      if (i >= 0) rest.splice(i, 1)
    }
    return rest
  }
  const since = (mark: number) => proxyAccess(p.log()).slice(mark)

  await t.test('by tag: every request goes to crproxy with ?ns=, and ns picks the upstream', async (t) => {
    const img = hub.images['library/alpine:3.19']!
    const ref = `${hubHost}/library/alpine:3.19`
    const res = await pull('alpine', ref, ['--http-dump'])
    const dump = parseHttpDump(res.stdout + res.stderr)
    const v2 = dump.requests.filter((r) => r.target.startsWith('/v2/'))
    t.ok(v2.length >= 5, `containerd sent ${v2.length} /v2/ requests (manifest HEAD/GET, config, 3 layers)`)
    t.same(
      v2.filter((r) => !r.target.includes(`?${nsHub}`) && !r.target.includes(`&${nsHub}`)).map((r) => r.target),
      [],
      `every /v2/ request carries ?${nsHub}`,
    )
    const hosts = [...new Set(dump.headers.filter(([n]) => n === 'host').map(([, v]) => v))]
    t.same(hosts, [`127.0.0.1:${p.port}`], 'every request went to crproxy (never to the server itself)')

    t.equal((await imagesLs('alpine')).get(ref), img.digest, 'image digest equals the hub’s')
    t.not(img.digest, decoyAlpine.digest, '(the decoy default holds another alpine:3.19)')
    t.match(await check('alpine', ref), /^complete /, 'ctr images check: complete')
    const content = await contentLs('alpine')
    for (const b of img.blobs) t.ok(content.includes(b), `content store has ${b.slice(0, 19)}`)

    const seen = proxyAccess(p.log()).filter((a) => a.path.startsWith('/v2/library/alpine/'))
    t.ok(seen.length > 0 && seen.every((a) => a.upstream === 'hub'), 'crproxy routed them all to the hub (by ns, its Host is an IP)')
    for (const b of img.blobs) {
      t.ok(proxyBlobGets(p.log(), b).some((a) => a.status === 200), `crproxy served blob ${b.slice(0, 19)}`)
    }
    t.equal((await registryRequests(decoy)).length, 0, 'the decoy default saw no request')
  })

  await t.test('--platform linux/arm64 of a multi-platform index fetches only the arm64 image', async (t) => {
    const img = hub.images['multi/app:1']!
    const arm = img.manifests.find((m) => m.arch === 'arm64')!
    const amd = img.manifests.find((m) => m.arch === 'amd64')!
    const ref = `${hubHost}/multi/app:1`
    await pull('multi', ref, ['--platform', 'linux/arm64'])
    t.equal((await imagesLs('multi')).get(ref), img.digest, 'the image’s target is the index')
    const gets = proxyAccess(p.log()).filter((a) => a.method === 'GET' && a.status === 200)
    t.ok(gets.some((a) => a.path === `/v2/multi/app/manifests/${arm.digest}`), 'crproxy served the arm64 manifest')
    t.notOk(gets.some((a) => a.path === `/v2/multi/app/manifests/${amd.digest}`), 'and not the amd64 one')
    const content = await contentLs('multi')
    t.ok(content.includes(arm.digest), 'the arm64 manifest is in the content store')
    t.notOk(content.includes(amd.digest), 'the amd64 manifest is not')
  })

  await t.test('a private repository (token auth) needs --user', async (t) => {
    const img = hub.images['private/secret:1']!
    const ref = `${hubHost}/private/secret:1`
    const known = await directRequests(hub.registry, p.log())
    await t.rejects(pull('private', ref), /unauthorized|denied|authorization failed/i, 'refused without credentials')
    const fallback = await newDirect(hub.registry, known)
    t.ok(
      fallback.every((k) => k === 'HEAD /v2/private/secret/manifests/1 401'),
      'after crproxy’s refusal containerd tried the hub itself (its `server`), which refused too',
      { fallback },
    )
    expectedDirect.set('hub', fallback)
    const mark = proxyAccess(p.log()).length
    await pull('private', ref, ['--user', img.creds!])
    t.equal((await imagesLs('private')).get(ref), img.digest, 'with --user alice:…: digest equals the hub’s')
    t.ok(since(mark).some((a) => a.path.startsWith('/token/hub/') && a.status === 200), 'containerd fetched its token through crproxy’s /token/')
    t.ok(
      hub.tokenServer.requests.some((r) => r.user === 'alice'),
      'the token server saw alice’s credentials (relayed by crproxy’s /token/)',
    )
  })

  await t.test('a private repository on a Basic-auth registry needs --user', async (t) => {
    const ref = `${basic.host}/private/secret:1`
    const known = await directRequests(basic, p.log())
    await t.rejects(pull('basic', ref), /401|unauthorized/i, 'refused without credentials')
    const fallback = await newDirect(basic, known)
    t.ok(
      fallback.every((k) => k === 'HEAD /v2/private/secret/manifests/1 401'),
      'after crproxy’s refusal containerd tried the registry itself (its `server`), which refused too',
      { fallback },
    )
    expectedDirect.set('basic', fallback)
    const mark = proxyAccess(p.log()).length
    await pull('basic', ref, ['--user', basicSecret.creds!])
    t.equal((await imagesLs('basic')).get(ref), basicSecret.digest, 'digest equals the Basic registry’s')
    const seen = since(mark).filter((a) => a.path.startsWith('/v2/private/secret/') && a.status === 200)
    t.ok(seen.length > 0 && seen.every((a) => a.upstream === 'private'), 'crproxy routed it by ns to the `private` upstream')
  })

  await t.test('an interrupted pull of a ≥100 MiB layer resumes with Range through crproxy', async (t) => {
    const layer = big.layers[0]!
    const size = big.sizes[layer]!
    t.ok(size >= 100 * 1024 * 1024, `the layer is ${(size / 1048576).toFixed(1)} MiB`)
    const ref = `${hubHost}/big/layer:1`
    const child = c.spawnCtr(['-n', 'resume', 'images', 'pull', '--hosts-dir', hostsDir, ref])
    let out = ''
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    const exited = once(child, 'exit')
    const ingested = () => [...c.ingests()].find(([r]) => r.endsWith(`layer-${layer}`))?.[1] ?? 0
    const threshold = Math.floor(size / 10)
    let killed = false
    const deadline = Date.now() + 60_000
    while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
      if (ingested() >= threshold) {
        child.kill('SIGKILL')
        killed = true
        break
      }
      await sleep(2)
    }
    if (!killed) child.kill('SIGKILL')
    await exited
    t.ok(killed, `ctr was killed mid-download (after ≥${threshold} bytes)`, { out: killed ? undefined : out })
    if (!killed) return

    // Let the daemon write what it had received, then read the offset.
    let offset = ingested()
    for (let same = 0; same < 5; ) {
      await sleep(100)
      const now = ingested()
      same = now === offset ? same + 1 : 0
      offset = now
    }
    t.ok(offset > 0 && offset < size, `containerd kept a partial download of ${offset} / ${size} bytes`)
    const first = proxyBlobGets(p.log(), layer)
    t.equal(first.length, 1, 'crproxy saw one GET for the layer')
    t.ok(first[0]?.aborted, 'and logged it as aborted by the client')
    // crproxy keeps filling its cache after the client left (--fill-timeout).
    await waitNoFills(p.url)

    // (No --http-dump here: ctr dumps response bodies too, 100 MiB of them.)
    await pull('resume', ref, [], 120_000)
    const resumed = proxyBlobGets(p.log(), layer).slice(1).filter((a) => a.status !== 401)
    // crproxy logs bytes written to the socket: the body plus the headers.
    const rest = size - offset
    t.ok(
      resumed.length === 1 && resumed[0]!.status === 206 && resumed[0]!.bytes >= rest && resumed[0]!.bytes < rest + 4096,
      `containerd resumed with a Range request from byte ${offset}: crproxy answered one 206 with the remaining ${rest} bytes`,
      { resumed: resumed.map((a) => a.line) },
    )
    t.equal(resumed[0]?.source, 'cache', 'from its cache (the fill went on after ctr was killed)')

    t.match(await check('resume', ref), /^complete /, 'ctr images check: complete')
    t.equal((await imagesLs('resume')).get(ref), big.digest, 'image digest equals the hub’s')
    t.equal(await fileSha256(c.blobPath(layer)), layer, 'the layer in containerd’s content store hashes to its digest')
    // A new ctr process brings a new token, so crproxy first asks the
    // upstream whether it may read the cached layer: a one-byte GET.
    const bodies = (await hub.cdn.entries()).filter((e) => e.method === 'GET' && e.uri.includes(layer.slice(7)) && e.range !== 'bytes=0-0')
    t.equal(bodies.length, 1, 'the hub sent the layer once in all (besides one-byte authorisation checks)', { bodies })
  })

  await t.test('a second pull after removing the image makes zero upstream blob GETs', async (t) => {
    const img = hub.images['library/alpine:3.19']!
    const ref = `${hubHost}/library/alpine:3.19`
    await c.ctr(['-n', 'alpine', 'images', 'rm', '--sync', ref])
    const left = (await contentLs('alpine')).filter((d) => img.blobs.includes(d) || d === img.digest)
    t.same(left, [], 'the image’s content is gone from containerd')
    const before = await blobGetCount(hub.registry)
    const servedBefore = img.blobs.map((b) => proxyBlobGets(p.log(), b).length)
    await pull('alpine', ref)
    t.equal((await imagesLs('alpine')).get(ref), img.digest, 'digest equals the hub’s')
    t.match(await check('alpine', ref), /^complete /, 'ctr images check: complete')
    img.blobs.forEach((b, i) => {
      const again = proxyBlobGets(p.log(), b).slice(servedBefore[i])
      t.ok(again.some((a) => a.status === 200 && a.source === 'cache'), `blob ${b.slice(0, 19)} came again, from crproxy’s cache`)
    })
    t.equal(await blobGetCount(hub.registry), before, 'zero blob GETs reached the hub')
  })

  await t.test('containerd never went around crproxy (but for the fallbacks above)', async (t) => {
    t.same(await newDirect(hub.registry, expectedDirect.get('hub') ?? []), [], 'the hub saw no other request that crproxy did not send')
    t.same(await newDirect(basic, expectedDirect.get('basic') ?? []), [], 'nor did the Basic-auth registry')
    t.equal((await registryRequests(decoy)).length, 0, 'the decoy default saw no request')
  })

  await t.test('teardown leaves no daemon and no mount', async (t) => {
    const pid = c.daemon.pid
    await c.close()
    t.notOk(pidAlive(pid), 'containerd has exited')
    t.same(mountsUnder(dir), [], `nothing is mounted under ${dir}`)
    t.comment(`containerd test took ${Date.now() - started} ms`)
  })
})
