// The Docker image, built and run: `make image` against a private dockerd
// (the base built offline from Debian and npm packages, never pulled from
// Docker Hub), then the container on the host network in front of a local
// distribution: it runs as uid 1000, its own HEALTHCHECK turns healthy, skopeo
// pulls the right digests through it, the blobs land in the /cache volume so
// a second container on that volume pulls with no blob fetched upstream (only
// its one-byte access checks), and
// `docker stop` ends each one cleanly within the grace period.
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { REAL_TOOLS, requireTools } from '../fixtures/real/available.js'
import { blobGetCount, registryRequests, startRegistry, type Registry } from '../fixtures/real/registry.js'
import { buildImage, pushImage, skopeo } from '../fixtures/real/images.js'
import { freePort, run } from '../fixtures/real/proc.js'
import { DOCKER_CLI, startDockerd, type Dockerd } from '../fixtures/real/runtimes/dockerd.js'

// First run on a machine: the offline base (~1-3 min) and the image (~2 min,
// most of it the build stage's `npm ci`); later runs reuse the base tarball.
t.setTimeout(20 * 60_000)

const root = fileURLToPath(new URL('../..', import.meta.url))
const IMAGE = 'crproxy:e2e'
const GRACE_S = 10
const KiB = 1024

const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
const healthcheckCmd = JSON.parse(/^HEALTHCHECK .* CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[]
const baseMajor = /^ARG NODE_VERSION=(\d+)$/m.exec(dockerfile)![1]!

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex')

t.test('make image, then the container in front of a registry', requireTools([...REAL_TOOLS, 'dockerd', DOCKER_CLI, 'containerd', 'mmdebstrap', 'make', 'npm']), async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'crproxy-image-'))
  let reg: Registry | undefined
  let dockerd: Dockerd | undefined
  t.teardown(async () => {
    await dockerd?.docker(['rm', '-f', 'crproxy-a', 'crproxy-b']).catch(() => undefined)
    await dockerd?.close()
    await reg?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const setUp = Date.now()
  reg = await startRegistry({ dir: join(dir, 'registry') })
  const img = buildImage(join(dir, 'oci'), { seed: 'image-e2e', layers: [1536 * KiB, 256 * KiB] })
  await pushImage(img.dir, img.ref, `docker://${reg.host}/app/demo:1`)
  // overlay2: vfs would copy the whole rootfs for each of the build's steps.
  dockerd = await startDockerd(join(dir, 'docker'), 30_000, { storageDriver: 'overlay2' })
  const d = dockerd
  const r = reg
  const inspect = async (what: string, format: string) => (await d.docker(['inspect', '--format', format, what])).stdout.trim()

  t.comment(`set-up took ${Math.round((Date.now() - setUp) / 1000)} s`)
  const started = Date.now()
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${d.sock}`, DOCKER_CONFIG: d.env['DOCKER_CONFIG'], DOCKER: DOCKER_CLI, OFFLINE_BASE: '1' }
  for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'NODE_OPTIONS']) delete env[k]
  const make = await run('make', ['-C', root, 'image', 'IMAGE=crproxy', 'TAG=e2e'], { env, timeoutMs: 18 * 60_000 })
  t.comment(`make image took ${Math.round((Date.now() - started) / 1000)} s`)
  for (const line of make.stdout.split('\n').filter((l) => l.startsWith('offline-base: built'))) t.comment(line)
  t.match(make.stdout, /Successfully tagged crproxy:e2e/)

  await t.test('the image: production dependencies only, near the base image’s size', async (t) => {
    const base = `node:${baseMajor}-bookworm-slim`
    const size = Number(await inspect(IMAGE, '{{.Size}}'))
    const baseSize = Number(await inspect(base, '{{.Size}}'))
    t.comment(`${IMAGE}: ${(size / 1e6).toFixed(1)} MB, ${base}: ${(baseSize / 1e6).toFixed(1)} MB`)
    t.ok(size - baseSize < 15e6, `crproxy adds ${((size - baseSize) / 1e6).toFixed(1)} MB to its base`)
    const modules = (await d.docker(['run', '--rm', '--network', 'host', '--entrypoint', 'ls', IMAGE, '/app/node_modules'])).stdout.split('\n')
    t.ok(modules.includes('minimist'), 'runtime dependencies installed')
    for (const dev of ['typescript', 'tap', 'dockerfilelint']) t.notOk(modules.includes(dev), `no ${dev}`)
    t.same(JSON.parse(await inspect(IMAGE, '{{json .Config.Volumes}}')), { '/cache': {} })
    t.ok((JSON.parse(await inspect(IMAGE, '{{json .Config.Env}}')) as string[]).includes('CRPROXY_CACHE_DIR=/cache'), 'the volume is the cache directory')
  })

  /** Starts a container on the host network with the cache volume; resolves once its HEALTHCHECK says healthy. */
  const startContainer = async (t: Test, name: string) => {
    const port = await freePort()
    // The Dockerfile's HEALTHCHECK command, run every second instead of 30 s.
    await d.docker(['run', '-d', '--name', name, '--network', 'host', '--health-interval', '1s', '-v', 'crproxy-cache:/cache', IMAGE, '--listen', `127.0.0.1:${port}`, '--default-registry', r.url])
    const t0 = Date.now()
    let status = ''
    while (Date.now() - t0 < 60_000) {
      status = await inspect(name, '{{.State.Health.Status}}')
      if (status === 'healthy' || (await inspect(name, '{{.State.Running}}')) !== 'true') break
      await new Promise((res) => setTimeout(res, 250))
    }
    t.equal(status, 'healthy', `HEALTHCHECK reports healthy (after ${Date.now() - t0} ms)`)
    t.same(JSON.parse(await inspect(name, '{{json .Config.Healthcheck.Test}}')), ['CMD', ...healthcheckCmd], 'the check is the Dockerfile’s')
    const pid = Number(await inspect(name, '{{.State.Pid}}'))
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    t.same([uids?.[1], uids?.[2]], ['1000', '1000'], 'crproxy runs as uid 1000 (node), not root')
    return `127.0.0.1:${port}`
  }

  const pull = async (at: string, into: string) => {
    const out = join(dir, into)
    await skopeo(['copy', '--quiet', '--src-tls-verify=false', `docker://${at}/app/demo:1`, `dir:${out}`], { timeoutMs: 60_000 })
    return out
  }
  const checkDigests = (t: Test, out: string) => {
    t.equal(sha256(readFileSync(join(out, 'manifest.json'))), img.digest, 'manifest digest')
    for (const b of img.blobs) t.equal(sha256(readFileSync(join(out, b.slice('sha256:'.length)))), b, `blob ${b.slice(0, 19)}`)
  }
  const stop = async (t: Test, name: string) => {
    const t0 = Date.now()
    await d.docker(['stop', '-t', String(GRACE_S), name], { timeoutMs: (GRACE_S + 20) * 1000 })
    const ms = Date.now() - t0
    t.ok(ms < GRACE_S * 1000, `docker stop took ${ms} ms, within the ${GRACE_S} s grace period`)
    t.equal(await inspect(name, '{{.State.ExitCode}}'), '0', 'exit code 0 (SIGTERM handled, not killed)')
    const logs = await d.docker(['logs', name])
    t.match(logs.stdout + logs.stderr, /stopped requests=/, 'crproxy logged its orderly shutdown')
  }

  await t.test('first container: pulls through, fills the /cache volume', async (t) => {
    const at = await startContainer(t, 'crproxy-a')
    await r.resetLog()
    checkDigests(t, await pull(at, 'pull-a'))
    for (const b of img.blobs) t.ok((await blobGetCount(r, b)) > 0, `fetched ${b.slice(0, 19)} from the registry`)
    const files = (await d.docker(['exec', 'crproxy-a', 'find', '/cache', '-type', 'f'])).stdout
    for (const b of img.blobs) t.match(files, b.slice('sha256:'.length), `${b.slice(0, 19)} is in the volume`)
    await stop(t, 'crproxy-a')
  })

  await t.test('second container on the same volume: no blob fetched upstream', async (t) => {
    const at = await startContainer(t, 'crproxy-b')
    await r.resetLog()
    checkDigests(t, await pull(at, 'pull-b'))
    // A new process knows no grants yet: before serving a cached blob it
    // asks the upstream for its first byte (README, "who is served a cached
    // blob"). That one-byte check is all the upstream may see.
    const gets = (await registryRequests(r)).filter((q) => q.method === 'GET' && q.path.includes('/blobs/'))
    const transfers = gets.filter((q) => !(q.status === 206 && q.bytes <= 1))
    t.same(transfers, [], 'no blob GET from the upstream: every blob came from the volume')
    t.equal(gets.length, img.blobs.length, 'one one-byte access check per blob', { gets })
    t.equal(await blobGetCount(r), img.blobs.length)
    await stop(t, 'crproxy-b')
  })
})
