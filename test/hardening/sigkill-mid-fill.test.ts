// crproxy killed with SIGKILL in the middle of a cache fill leaves a temp
// file behind. A restart removes it at once (its owner is gone; no waiting
// for it to go stale), and the blob is fetched again and served whole. A
// neighbour process that was following the dead fill does not wait for the
// stale timeout either: its client is cut and the retry is served.
import { existsSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { fetchOutcome } from './fixtures/harness.js'
import { startFaultRegistry } from './fixtures/fault-registry.js'
import { randomBytes } from 'node:crypto'
import { blobFile, tempFile } from './fixtures/cache-files.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

t.test('SIGKILL mid-fill, then restart', async (t) => {
  const reg = await startFaultRegistry()
  t.teardown(() => reg.close())
  const dir = t.testdir()
  const cache = join(dir, 'cache')
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify({ default: reg.registryUrl }))
  const bytes = randomBytes(8 * 1024 * 1024)
  const digest = reg.addBlob(bytes)
  const path = `/v2/fault/test/blobs/${digest}`
  const args = ['--registry-map', map, '--cache-dir', cache, '--idle-timeout', '1s', '--fill-timeout', '60s', '--redirect-allow', reg.redirectAllow.join(',')]

  const a = await startCliProxy(args, { fromSource: true })
  const b = await startCliProxy(args, { fromSource: true })
  t.teardown(() => Promise.all([a.stop(), b.stop()]))
  reg.fault('cdn', { kind: 'rate', bytesPerSecond: 2 * 1024 * 1024 }, { times: 1 })
  const writer = fetchOutcome(a.url, path)
  await waitFor(() => existsSync(tempFile(cache, digest)) && existsSync(tempFile(cache, digest) + '.owner'), (v) => v, 5000)
  await waitFor(() => reg.bodyBytesSent.cdn, (n) => n > 1024 * 1024, 5000)
  // b follows a's fill (same cache dir, another process).
  const follower = fetchOutcome(b.url, path)
  await new Promise((r) => setTimeout(r, 300))
  a.proc.kill('SIGKILL')
  await a.exited
  const started = Date.now()
  const [w, f] = await Promise.all([writer, follower])
  t.notOk(w.complete, 'the killed process’s client was cut')
  t.notOk(f.complete && f.status === 200 && sha256(f.body) !== digest, 'the follower never got a complete wrong body')
  t.ok(Date.now() - started < 5000, `the follower did not wait for the stale timeout (${Date.now() - started} ms)`)
  t.ok(existsSync(tempFile(cache, digest)) || existsSync(blobFile(cache, digest)), 'something was left on disk by the kill (or b took over already)')

  const retry = await fetchOutcome(b.url, path)
  t.ok(retry.status === 200 && retry.complete && sha256(retry.body) === digest, 'the neighbour serves the retry, whole')

  // Kill b too while nothing is running, then restart: tmp/ is clean, the blob is served.
  await b.stop()
  const c = await startCliProxy(args, { fromSource: true })
  t.teardown(() => c.stop())
  t.same(readdirSync(join(cache, 'tmp')), [], 'the restart left nothing in tmp/')
  const again = await fetchOutcome(c.url, path)
  t.ok(again.status === 200 && again.complete && sha256(again.body) === digest, 'served whole after the restart')
})

t.test('SIGKILL mid-fill with no neighbour: the restart sweeps the temp file at once', async (t) => {
  const reg = await startFaultRegistry()
  t.teardown(() => reg.close())
  const dir = t.testdir()
  const cache = join(dir, 'cache')
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify({ default: reg.registryUrl }))
  const bytes = randomBytes(8 * 1024 * 1024)
  const digest = reg.addBlob(bytes)
  const path = `/v2/fault/test/blobs/${digest}`
  const args = ['--registry-map', map, '--cache-dir', cache, '--redirect-allow', reg.redirectAllow.join(',')]
  const a = await startCliProxy(args, { fromSource: true })
  reg.fault('cdn', { kind: 'rate', bytesPerSecond: 2 * 1024 * 1024 }, { times: 1 })
  const writer = fetchOutcome(a.url, path)
  await waitFor(() => reg.bodyBytesSent.cdn, (n) => n > 1024 * 1024, 5000)
  a.proc.kill('SIGKILL')
  await a.exited
  await writer
  t.ok(existsSync(tempFile(cache, digest)), 'the kill left a temp file')
  const cdnBefore = reg.count('cdn', 'GET')
  const b = await startCliProxy(args, { fromSource: true })
  t.teardown(() => b.stop())
  t.same(readdirSync(join(cache, 'tmp')), [], 'removed at start-up, not after the stale timeout')
  t.match(b.log(), /staleTemps=1/, 'and logged')
  const o = await fetchOutcome(b.url, path)
  t.ok(o.status === 200 && o.complete && sha256(o.body) === digest, 'refetched and served whole')
  t.equal(reg.count('cdn', 'GET'), cdnBefore + 1, 'fetched again')
  await waitFor(() => existsSync(blobFile(cache, digest)), (v) => v, 3000)
  t.ok(existsSync(blobFile(cache, digest)), 'and cached')
})
