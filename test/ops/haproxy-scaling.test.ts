// docs/scaling.md, checked: two crproxy nodes, each with its own cache,
// behind HAProxy hashing on the request path (`balance uri`, `hash-type
// consistent`): every blob is fetched from the upstream once across both
// nodes, and both nodes take a share. The variant docs/scaling.md recommends,
// hashing on the digest alone, also keeps one fetch when two repositories
// share a blob.
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startFakeHub, type FakeHub } from '../fixtures/fake-hub.js'
import { PullClient, request, startTestProxy } from '../fixtures/proxy.js'
import { requireTools } from '../fixtures/real/available.js'
import type { RunningProxy } from '../../lib/proxy.js'
import { freePort } from '../fixtures/real/proc.js'
import { sha256 } from '../fixtures/sha256.js'

async function startHaproxy(t: Tap, dir: string, balance: string, nodes: RunningProxy[]): Promise<string> {
  const port = await freePort()
  const cfg = join(dir, `haproxy-${port}.cfg`)
  writeFileSync(
    cfg,
    [
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 60s',
      'frontend registry',
      `  bind 127.0.0.1:${port}`,
      '  default_backend crproxy',
      'backend crproxy',
      `  ${balance}`,
      '  hash-type consistent',
      '  option httpchk GET /healthz',
      ...nodes.map((n, i) => `  server node${i} 127.0.0.1:${n.port} check inter 1s`),
      '',
    ].join('\n'),
  )
  const proc = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: `${process.env['PATH']}:/usr/sbin` } })
  let err = ''
  proc.stderr!.on('data', (c: Buffer) => (err += c))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.kill('SIGTERM')
      }),
  )
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    try {
      if ((await request(url, '/healthz')).status === 200) return url
    } catch {}
    if (proc.exitCode !== null) break
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`haproxy did not come up: ${err}`)
}
type Tap = { teardown(fn: () => unknown): void }

/** Pulls every blob twice, from two clients (two tokens, two connections each). */
async function pullAll(url: string, repo: string, digests: string[]) {
  for (const round of [1, 2]) {
    const c = new PullClient(url)
    for (const d of digests) {
      const r = await c.get(`/v2/${repo}/blobs/${d}`)
      if (r.status !== 200 || sha256(r.body) !== d) throw new Error(`round ${round}: ${d} → ${r.status}`)
    }
  }
}

function fetchesPerBlob(hub: FakeHub, digests: string[]): number[] {
  return digests.map((d) => hub.downloads('cdn', `/blobs/${d.slice(7)}`))
}

t.test('two nodes behind HAProxy (balance uri, consistent): one upstream fetch per blob', requireTools(['haproxy']), async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const digests = Array.from({ length: 24 }, (_, i) => hub.putBlob(Buffer.from(`layer ${i} `.repeat(1000 + i)), 'library/alpine'))
  const nodes = [
    await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir: join(dir, 'a') }),
    await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir: join(dir, 'b') }),
  ]
  const lb = await startHaproxy(t, dir, 'balance uri', nodes)
  await pullAll(lb, 'library/alpine', digests)
  t.same(fetchesPerBlob(hub, digests), digests.map(() => 1), 'each blob downloaded once across both nodes')
  const shares = nodes.map((n) => n.deps.cache!.stats().blobs)
  t.equal(shares[0]! + shares[1]!, digests.length, 'each blob cached on exactly one node')
  t.ok(shares.every((s) => s > 0), `both nodes hold a share (${shares.join(' + ')})`)
})

t.test('hashing on the digest alone: a blob shared by two repositories is fetched once', requireTools(['haproxy']), async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const digests = Array.from({ length: 12 }, (_, i) => {
    const bytes = Buffer.from(`shared ${i} `.repeat(2000))
    hub.putBlob(bytes, 'library/alpine')
    return hub.putBlob(bytes, 'library/busybox')
  })
  const nodes = [
    await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir: join(dir, 'a') }),
    await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, cacheDir: join(dir, 'b') }),
  ]
  const lb = await startHaproxy(t, dir, 'balance hash path,word(-1,/)', nodes)
  await pullAll(lb, 'library/alpine', digests)
  await pullAll(lb, 'library/busybox', digests)
  t.same(fetchesPerBlob(hub, digests), digests.map(() => 1), 'one download per digest, whichever repository names it')
})
