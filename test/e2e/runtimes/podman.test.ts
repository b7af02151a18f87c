// podman 4.3 pulls through crproxy configured as the README says: a
// registries.conf `[[registry]]` per registry with crproxy as an insecure
// `[[registry.mirror]]`. podman sends no `?ns=`, so each mirror is a
// `<key>.<suffix>` host name of crproxy (crproxy's `default` is a decoy
// registry holding another image under the same name: a wrong route would
// show as a wrong digest).
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { REAL_TOOLS, requireTools } from '../../fixtures/real/available.js'
import { blobGetCount, registryRequests, type Registry } from '../../fixtures/real/registry.js'
import type { CliProxy } from '../../fixtures/cli-proxy.js'
import { startRuntimeUpstreams, startProxy, type RuntimeUpstreams } from '../../fixtures/real/runtimes/upstreams.js'
import { setupPodman, type Podman } from '../../fixtures/real/runtimes/podman.js'
import { directRequests, proxyAccess, proxyBlobGets } from '../../fixtures/real/runtimes/proxy-log.js'
import { mountsUnder, requireHosts, unmountUnder } from '../../fixtures/real/runtimes/host.js'

t.setTimeout(180_000)

const SUFFIX = 'crproxy.test'
const HUB_NAME = `hub.${SUFFIX}`
const PRIVATE_NAME = `private.${SUFFIX}`
const tools = requireTools([...REAL_TOOLS, 'podman'])
const hosts = tools.skip ? {} : await requireHosts([HUB_NAME, PRIVATE_NAME])
const opts = tools.skip ? tools : hosts

t.test('podman pulls through crproxy as a registries.conf mirror', opts, async (t) => {
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-podman-'))
  let ups: RuntimeUpstreams | undefined
  let proxy: CliProxy | undefined
  t.teardown(async () => {
    await proxy?.close()
    await ups?.close()
    await unmountUnder(dir)
    rmSync(dir, { recursive: true, force: true })
  })

  ups = await startRuntimeUpstreams(join(dir, 'upstreams'))
  const { hub, decoy, decoyAlpine, basic, basicSecret } = ups
  proxy = await startProxy(join(dir, 'crproxy'), { default: decoy.url, hub: hub.registry.url, private: basic.url }, [
    '--domain-suffix',
    SUFFIX,
    '--redirect-allow',
    hub.redirectAllow.join(','),
  ])
  const p = proxy
  const hubHost = hub.registry.host
  const pm: Podman = setupPodman(join(dir, 'podman'), [
    { location: hubHost, mirror: `${HUB_NAME}:${p.port}` },
    { location: basic.host, mirror: `${PRIVATE_NAME}:${p.port}` },
  ])
  t.comment(`set-up took ${Date.now() - started} ms`)

  const pull = (ref: string, extra: string[] = []) => pm.podman(['pull', ...extra, ref])
  const inspect = async (ref: string, format: string) =>
    (await pm.podman(['image', 'inspect', '--format', format, ref])).stdout.trim()
  const since = (mark: number) => proxyAccess(p.log()).slice(mark)
  // Requests a registry saw that crproxy did not send, expected ones: when the
  // mirror refuses, podman tries the registry itself.
  const expectedDirect = new Map<Registry, string[]>()
  const newDirect = async (reg: Registry, known: string[]) => {
    const rest = await directRequests(reg, p.log())
    for (const k of known) {
      const i = rest.indexOf(k)
      if (i >= 0) rest.splice(i, 1)
    }
    return rest
  }
  const refusedDirect = async (reg: Registry, what: string, ref: string, t: Test) => {
    const known = await directRequests(reg, p.log())
    await t.rejects(pull(ref), /unauthorized|authentication required|denied/i, 'refused without credentials')
    const fallback = await newDirect(reg, known)
    t.ok(
      fallback.every((k) => /^(GET|HEAD) \/v2\/(private\/secret\/manifests\/1)? 401$/.test(k)),
      `after crproxy’s refusal podman tried ${what} itself, which refused too`,
      { fallback },
    )
    expectedDirect.set(reg, [...(expectedDirect.get(reg) ?? []), ...fallback])
  }

  await t.test('by tag: the mirror is used, <key>.<suffix> picks the upstream', async (t) => {
    const img = hub.images['library/alpine:3.19']!
    const ref = `${hubHost}/library/alpine:3.19`
    const mark = proxyAccess(p.log()).length
    const { stdout } = await pull(ref)
    t.equal(stdout.trim(), img.blobs[0]!.slice(7), 'podman printed the image ID (the config digest)')
    t.equal(await inspect(ref, '{{.Digest}}'), img.digest, 'image digest equals the hub’s')
    t.not(img.digest, decoyAlpine.digest, '(the decoy default holds another alpine:3.19)')
    const seen = since(mark).filter((a) => a.path.startsWith('/v2/library/alpine/'))
    t.ok(seen.length > 0, `crproxy answered ${seen.length} requests for it`)
    t.ok(
      seen.every((a) => a.host === `${HUB_NAME}:${p.port}` && a.upstream === 'hub'),
      `all for Host ${HUB_NAME}:${p.port}, routed to the hub`,
    )
    for (const b of img.blobs) {
      t.ok(proxyBlobGets(p.log(), b).some((a) => a.status === 200), `crproxy served blob ${b.slice(0, 19)}`)
    }
    t.same(await directRequests(hub.registry, p.log()), [], 'the hub saw only requests crproxy sent')
    t.equal((await registryRequests(decoy)).length, 0, 'the decoy default saw no request')
  })

  await t.test('--platform linux/arm64 of a multi-platform index', async (t) => {
    const img = hub.images['multi/app:1']!
    const arm = img.manifests.find((m) => m.arch === 'arm64')!
    const amd = img.manifests.find((m) => m.arch === 'amd64')!
    const ref = `${hubHost}/multi/app:1`
    const mark = proxyAccess(p.log()).length
    await pull(ref, ['--platform', 'linux/arm64'])
    t.equal(await inspect(ref, '{{.Architecture}}'), 'arm64', 'the image is the arm64 one')
    t.equal(await inspect(ref, '{{.Digest}}'), img.digest, 'its digest is the index’s')
    const gets = since(mark).filter((a) => a.method === 'GET' && a.status === 200)
    t.ok(gets.some((a) => a.path === `/v2/multi/app/manifests/${arm.digest}`), 'crproxy served the arm64 manifest')
    t.notOk(gets.some((a) => a.path === `/v2/multi/app/manifests/${amd.digest}`), 'and not the amd64 one')
  })

  // podman never sends --creds to a mirror (containers/image drops them for
  // any endpoint other than the registry named in the reference), so a
  // private pull with --creds alone goes to the registry itself. Credentials
  // for the mirror come from the auth file: `podman login <mirror>`.
  const privatePulls = async (t: Test, reg: Registry, what: string, ref: string, digest: string, creds: string, mirrorName: string, key: string) => {
    await refusedDirect(reg, what, ref, t)

    let known = await directRequests(reg, p.log())
    let mark = proxyAccess(p.log()).length
    await pull(ref, ['--creds', creds])
    t.equal(await inspect(ref, '{{.Digest}}'), digest, 'with --creds alone the pull succeeds…')
    const viaMirror = since(mark).filter((a) => a.path === '/v2/private/secret/manifests/1')
    t.ok(viaMirror.length > 0 && viaMirror.every((a) => a.status === 401), '…but crproxy was asked without credentials and refused', {
      viaMirror: viaMirror.map((a) => a.line),
    })
    const fallback = await newDirect(reg, known)
    t.ok(fallback.includes('GET /v2/private/secret/manifests/1 200'), `…and podman fell back to ${what} itself`, { fallback })
    expectedDirect.set(reg, [...(expectedDirect.get(reg) ?? []), ...fallback])
    await pm.podman(['rmi', ref])

    const mirror = `${mirrorName}:${p.port}`
    const [user, password] = [creds.slice(0, creds.indexOf(':')), creds.slice(creds.indexOf(':') + 1)]
    await pm.podman(['login', '--tls-verify=false', '--username', user, '--password-stdin', mirror], { input: password })
    known = await directRequests(reg, p.log())
    mark = proxyAccess(p.log()).length
    await pull(ref)
    t.equal(await inspect(ref, '{{.Digest}}'), digest, `after podman login ${mirror}: digest equals ${what}’s`)
    const seen = since(mark).filter((a) => a.path.startsWith('/v2/private/secret/') && a.status === 200)
    t.ok(
      seen.length > 0 && seen.every((a) => a.host === mirror && a.upstream === key),
      `crproxy served it for Host ${mirror} from the \`${key}\` upstream`,
    )
    t.same(await newDirect(reg, known), [], `${what} saw only requests crproxy sent`)
  }

  await t.test('a private repository (token auth): podman login to the mirror', async (t) => {
    const img = hub.images['private/secret:1']!
    const ref = `${hubHost}/private/secret:1`
    await privatePulls(t, hub.registry, 'the hub', ref, img.digest, img.creds!, HUB_NAME, 'hub')
    t.ok(hub.tokenServer.requests.some((r) => r.user === 'alice' && r.status === 200), 'the token server issued alice a token')
  })

  await t.test('a private repository on a Basic-auth registry: podman login to the mirror', async (t) => {
    await privatePulls(t, basic, 'the Basic-auth registry', `${basic.host}/private/secret:1`, basicSecret.digest, basicSecret.creds!, PRIVATE_NAME, 'private')
  })

  await t.test('a second pull after podman rmi makes zero upstream blob GETs', async (t) => {
    const img = hub.images['library/alpine:3.19']!
    const ref = `${hubHost}/library/alpine:3.19`
    await pm.podman(['rmi', ref])
    await t.rejects(inspect(ref, '{{.Id}}'), 'the image is gone from podman’s storage')
    const before = await blobGetCount(hub.registry)
    const servedBefore = img.blobs.map((b) => proxyBlobGets(p.log(), b).length)
    await pull(ref)
    t.equal(await inspect(ref, '{{.Digest}}'), img.digest, 'digest equals the hub’s')
    img.blobs.forEach((b, i) => {
      const again = proxyBlobGets(p.log(), b).slice(servedBefore[i])
      t.ok(again.some((a) => a.status === 200 && a.source === 'cache'), `blob ${b.slice(0, 19)} came again, from crproxy’s cache`)
    })
    t.equal(await blobGetCount(hub.registry), before, 'zero blob GETs reached the hub')
  })

  await t.test('podman never went around crproxy (but for the fallbacks above)', async (t) => {
    t.same(await newDirect(hub.registry, expectedDirect.get(hub.registry) ?? []), [], 'the hub saw no other request that crproxy did not send')
    t.same(await newDirect(basic, expectedDirect.get(basic) ?? []), [], 'nor did the Basic-auth registry')
    t.equal((await registryRequests(decoy)).length, 0, 'the decoy default saw no request')
  })

  await t.test('nothing left mounted', async (t) => {
    t.same(mountsUnder(dir), [], `nothing is mounted under ${dir} (vfs)`)
    t.comment(`podman test took ${Date.now() - started} ms`)
  })
})
