// SIGTERM: crproxy stops accepting connections at once, lets the downloads
// in flight finish (bounded by the grace period), leaves the cache
// consistent (the finished fill committed, nothing in tmp/), and exits 0.
// After a restart the blob is a hit.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { blobFile } from './fixtures/cache-files.js'
import { startFaultRegistry } from './fixtures/fault-registry.js'
import { fetchOutcome } from './fixtures/harness.js'
import { fdSnapshot } from './fixtures/fds.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

function connectable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.destroy()
      resolve(true)
    })
    s.on('error', () => resolve(false))
  })
}

t.test('SIGTERM drains', async (t) => {
  const reg = await startFaultRegistry()
  t.teardown(() => reg.close())
  const dir = t.testdir()
  const cache = join(dir, 'cache')
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify({ default: reg.registryUrl }))
  const filled = randomBytes(4 * 1024 * 1024)
  const uncachedRange = randomBytes(4 * 1024 * 1024)
  const fillDigest = reg.addBlob(filled)
  const rangeDigest = reg.addBlob(uncachedRange)
  const args = ['--registry-map', map, '--cache-dir', cache, '--redirect-allow', reg.redirectAllow.join(',')]
  const a = await startCliProxy(args, { fromSource: true })
  t.teardown(() => a.stop())
  const fdsIdle = fdSnapshot(a.pid)

  // Two downloads that take about a second each: a cache fill and a Range
  // read (which is never cached).
  reg.fault('cdn', { kind: 'rate', bytesPerSecond: 4 * 1024 * 1024 }, { times: 2 })
  const fill = fetchOutcome(a.url, `/v2/fault/test/blobs/${fillDigest}`)
  const range = fetchOutcome(a.url, `/v2/fault/test/blobs/${rangeDigest}`, { headers: { range: 'bytes=0-' } })
  await waitFor(() => reg.bodyBytesSent.cdn, (n) => n > 512 * 1024, 5000)
  t.ok(fdSnapshot(a.pid).sockets > fdsIdle.sockets, 'downloads in flight')

  a.proc.kill('SIGTERM')
  await waitFor(() => a.log(), (l) => /shutting down/.test(l), 3000)
  t.notOk(await connectable(a.port), 'no new connections once SIGTERM arrived')

  const [f, r] = await Promise.all([fill, range])
  t.ok(f.status === 200 && f.complete && sha256(f.body) === fillDigest, 'the fill in flight finished, whole')
  t.ok(r.status === 206 && r.complete && r.body.equals(uncachedRange), 'the range read in flight finished, whole')
  const exit = await a.exited
  t.same(exit, { code: 0, signal: null }, 'exit 0')
  t.ok(existsSync(blobFile(cache, fillDigest)), 'the fill was committed')
  t.same(readdirSync(join(cache, 'tmp')), [], 'nothing left in tmp/')

  const b = await startCliProxy(args, { fromSource: true })
  t.teardown(() => b.stop())
  const before = reg.requests.length
  const hit = await fetchOutcome(b.url, `/v2/fault/test/blobs/${fillDigest}`)
  t.ok(hit.status === 200 && sha256(hit.body) === fillDigest, 'after a restart: served')
  // The new process knows no grant yet: the upstream is asked, as for a
  // pull, for the first byte (docs/security.md, "Private-blob leaks").
  const gets = reg.requests.slice(before).filter((r) => r.role === 'cdn' && r.method === 'GET')
  t.same(gets.map((r) => r.headers['range']), gets.length ? ['bytes=0-0'] : [], 'from the cache: the CDN saw at most the one-byte check')
})
