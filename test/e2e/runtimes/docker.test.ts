// The Docker 20.10 daemon pulls through crproxy by naming it in the image
// reference (`docker pull 127.0.0.1:<port>/library/alpine:3.19`: 127.0.0.0/8
// is an insecure registry by default), as the README says. registry-mirrors
// is never configured here: it applies to Docker Hub names only, and its
// fallback would try the internet.
import { readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { REAL_TOOLS, requireTools } from '../../fixtures/real/available.js'
import { blobGetCount } from '../../fixtures/real/registry.js'
import type { CliProxy } from '../../fixtures/cli-proxy.js'
import { startRuntimeUpstreams, startProxy, type RuntimeUpstreams } from '../../fixtures/real/runtimes/upstreams.js'
import { DOCKER_CLI, startDockerd, type Dockerd } from '../../fixtures/real/runtimes/dockerd.js'
import { directRequests, proxyAccess, proxyBlobGets } from '../../fixtures/real/runtimes/proxy-log.js'
import { mountsUnder, pidAlive, requireHosts } from '../../fixtures/real/runtimes/host.js'

t.setTimeout(180_000)

const SUFFIX = 'crproxy.test'
const PRIVATE_NAME = `private.${SUFFIX}`

t.test('the Docker daemon pulls through crproxy named in the image reference', requireTools([...REAL_TOOLS, 'dockerd', DOCKER_CLI, 'containerd', 'ctr']), async (t) => {
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-docker-'))
  let ups: RuntimeUpstreams | undefined
  let proxy: CliProxy | undefined
  let dockerd: Dockerd | undefined
  t.teardown(async () => {
    await dockerd?.close()
    await proxy?.close()
    await ups?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  ups = await startRuntimeUpstreams(join(dir, 'upstreams'))
  const { hub, basic, basicSecret } = ups
  proxy = await startProxy(join(dir, 'crproxy'), { default: hub.registry.url, hub: hub.registry.url, private: basic.url }, [
    '--domain-suffix',
    SUFFIX,
    '--redirect-allow',
    hub.redirectAllow.join(','),
  ])
  // If dockerd cannot run on this machine, this throws with its reason (a
  // failure, never a skip).
  dockerd = await startDockerd(join(dir, 'docker'))
  t.comment(`set-up took ${Date.now() - started} ms`)
  const p = proxy
  const d = dockerd
  const at = `127.0.0.1:${p.port}`
  const since = (mark: number) => proxyAccess(p.log()).slice(mark)
  const pull = (ref: string, extra: string[] = []) => d.docker(['pull', ...extra, ref], { timeoutMs: 90_000 })
  const inspect = async (ref: string, format: string) => (await d.docker(['image', 'inspect', '--format', format, ref])).stdout.trim()
  const repoDigests = async (ref: string) => JSON.parse(await inspect(ref, '{{json .RepoDigests}}')) as string[]
  const login = (registry: string, creds: string) =>
    d.docker(['login', '--username', creds.slice(0, creds.indexOf(':')), '--password-stdin', registry], {
      input: creds.slice(creds.indexOf(':') + 1),
    })

  await t.test('by tag through the default route', async (t) => {
    const img = hub.images['library/alpine:3.19']!
    const ref = `${at}/library/alpine:3.19`
    const mark = proxyAccess(p.log()).length
    const { stdout } = await pull(ref)
    t.match(stdout, `Digest: ${img.digest}`, 'docker reports the hub’s digest')
    t.ok((await repoDigests(ref)).includes(`${at}/library/alpine@${img.digest}`), 'RepoDigests holds the hub’s digest')
    t.equal(await inspect(ref, '{{.Id}}'), img.blobs[0], 'image ID is the config digest')
    const seen = since(mark).filter((a) => a.path.startsWith('/v2/library/alpine/'))
    t.ok(seen.length > 0 && seen.every((a) => a.host === at && a.upstream === 'default'), 'crproxy routed it by its IP Host to `default` (the hub)')
    for (const b of img.blobs) {
      t.ok(proxyBlobGets(p.log(), b).some((a) => a.status === 200), `crproxy served blob ${b.slice(0, 19)}`)
    }
  })

  await t.test('--platform linux/arm64 of a multi-platform index', async (t) => {
    const img = hub.images['multi/app:1']!
    const arm = img.manifests.find((m) => m.arch === 'arm64')!
    const amd = img.manifests.find((m) => m.arch === 'amd64')!
    const ref = `${at}/multi/app:1`
    const mark = proxyAccess(p.log()).length
    await pull(ref, ['--platform', 'linux/arm64'])
    t.equal(await inspect(ref, '{{.Architecture}}'), 'arm64', 'the image is the arm64 one')
    t.ok((await repoDigests(ref)).includes(`${at}/multi/app@${img.digest}`), 'RepoDigests holds the index digest')
    const gets = since(mark).filter((a) => a.method === 'GET' && a.status === 200)
    t.ok(gets.some((a) => a.path === `/v2/multi/app/manifests/${arm.digest}`), 'crproxy served the arm64 manifest')
    t.notOk(gets.some((a) => a.path === `/v2/multi/app/manifests/${amd.digest}`), 'and not the amd64 one')
  })

  await t.test('a private repository (token auth) after docker login', async (t) => {
    const img = hub.images['private/secret:1']!
    const ref = `${at}/private/secret:1`
    await t.rejects(pull(ref), /unauthorized|denied|authentication required/i, 'refused before docker login')
    await login(at, img.creds!)
    const config = JSON.parse(readFileSync(join(d.dir, 'config', 'config.json'), 'utf8')) as { auths?: Record<string, unknown> }
    t.ok(config.auths?.[at], `docker login stored credentials for ${at} in the temp DOCKER_CONFIG`)
    const mark = proxyAccess(p.log()).length
    await pull(ref)
    t.ok((await repoDigests(ref)).includes(`${at}/private/secret@${img.digest}`), 'RepoDigests holds the hub’s digest')
    t.ok(
      since(mark).some((a) => a.method === 'POST' && a.path.startsWith('/token/default/') && a.status === 200),
      'docker fetched its token through crproxy’s /token/ (an OAuth2 POST with the refresh token docker login got)',
      { seen: since(mark).map((a) => a.line) },
    )
    t.ok(hub.tokenServer.requests.some((r) => r.user === 'alice' && r.status === 200), 'the token server issued alice a token')
  })

  const hosts = await requireHosts([PRIVATE_NAME])
  await t.test(`a private repository on a Basic-auth registry, as ${PRIVATE_NAME}`, hosts, async (t) => {
    const reg = `${PRIVATE_NAME}:${p.port}`
    const ref = `${reg}/private/secret:1`
    await t.rejects(pull(ref), /unauthorized|denied|authentication required|no basic auth/i, 'refused before docker login')
    await login(reg, basicSecret.creds!)
    const mark = proxyAccess(p.log()).length
    await pull(ref)
    t.ok((await repoDigests(ref)).includes(`${reg}/private/secret@${basicSecret.digest}`), 'RepoDigests holds the Basic registry’s digest')
    const seen = since(mark).filter((a) => a.path.startsWith('/v2/private/secret/') && a.status === 200)
    t.ok(seen.length > 0 && seen.every((a) => a.host === reg && a.upstream === 'private'), `crproxy routed Host ${reg} to the \`private\` upstream`)
  })

  await t.test('a second pull after docker rmi makes zero upstream blob GETs', async (t) => {
    const img = hub.images['library/alpine:3.19']!
    const ref = `${at}/library/alpine:3.19`
    await d.docker(['rmi', ref])
    await t.rejects(inspect(ref, '{{.Id}}'), 'the image is gone from the daemon')
    const before = await blobGetCount(hub.registry)
    const servedBefore = img.blobs.map((b) => proxyBlobGets(p.log(), b).length)
    await pull(ref)
    t.ok((await repoDigests(ref)).includes(`${at}/library/alpine@${img.digest}`), 'RepoDigests holds the hub’s digest')
    img.blobs.forEach((b, i) => {
      const again = proxyBlobGets(p.log(), b).slice(servedBefore[i])
      t.ok(again.some((a) => a.status === 200 && a.source === 'cache'), `blob ${b.slice(0, 19)} came again, from crproxy’s cache`)
    })
    t.equal(await blobGetCount(hub.registry), before, 'zero blob GETs reached the hub')
  })

  await t.test('the registries saw only requests crproxy sent', async (t) => {
    t.same(await directRequests(hub.registry, p.log()), [], 'the hub')
    t.same(await directRequests(basic, p.log()), [], 'the Basic-auth registry')
  })

  await t.test('teardown leaves no daemon and no mount', async (t) => {
    const pid = d.daemon.pid
    const cpid = d.containerd.daemon.pid
    t.comment(`mounted while dockerd runs: ${mountsUnder(d.dir).join(', ') || 'nothing'}`)
    const cleaned = await d.close()
    t.notOk(pidAlive(pid), 'dockerd has exited')
    t.notOk(pidAlive(cpid), 'its containerd has exited')
    t.same(cleaned.unmounted, [], 'dockerd unmounted everything itself')
    t.same(mountsUnder(dir), [], `nothing is mounted under ${dir}`)
    t.comment(`docker test took ${Date.now() - started} ms`)
  })
})
