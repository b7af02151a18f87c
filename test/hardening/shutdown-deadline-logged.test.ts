// SIGTERM with a download that cannot finish: after --shutdown-grace the
// download is cut, its cut is logged (method, path, how long it ran), and a
// final "stopped" line gives the counts; the process exits 0. A download
// that finishes within the grace period counts as drained.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { startFaultRegistry } from './fixtures/fault-registry.js'
import { fetchOutcome } from './fixtures/harness.js'
import { flags } from '../../lib/flags.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

t.test('--shutdown-grace defaults inside the 30 s deploy examples allow', async (t) => {
  const spec = flags.find((f) => f.name === 'shutdown-grace')
  t.equal(spec?.default, '25s')
})

t.test('SIGTERM: a request still running at the deadline is cut and logged; then one "stopped" line', async (t) => {
  const reg = await startFaultRegistry()
  t.teardown(() => reg.close())
  const dir = t.testdir()
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify({ default: reg.registryUrl }))
  const stalledDigest = reg.addBlob(randomBytes(1024 * 1024))
  const slow = randomBytes(2 * 1024 * 1024)
  const slowDigest = reg.addBlob(slow)
  const a = await startCliProxy(['--registry-map', map, '--redirect-allow', reg.redirectAllow.join(','), '--shutdown-grace', '3s'], { fromSource: true })
  t.teardown(() => a.stop())

  // One download stalls for ever; one takes about a second (drained).
  reg.fault('cdn', { kind: 'stall-body', after: 128 * 1024 }, { times: 1 })
  const stalled = fetchOutcome(a.url, `/v2/fault/test/blobs/${stalledDigest}`)
  await waitFor(() => reg.bodyBytesSent.cdn, (n) => n >= 128 * 1024, 5000)
  reg.fault('cdn', { kind: 'rate', bytesPerSecond: 2 * 1024 * 1024 }, { times: 1 })
  const drained = fetchOutcome(a.url, `/v2/fault/test/blobs/${slowDigest}`)
  await waitFor(() => reg.bodyBytesSent.cdn, (n) => n >= 128 * 1024 + 256 * 1024, 5000)

  a.proc.kill('SIGTERM')
  const [s, d] = await Promise.all([stalled, drained])
  t.notOk(s.complete, 'the stalled download was cut')
  t.ok(d.complete && sha256(d.body) === slowDigest, 'the slow download finished within the grace period')
  t.same(await a.exited, { code: 0, signal: null }, 'exit 0')

  const lines = a.log().trim().split('\n')
  const cut = lines.filter((l) => /request cut at the shutdown deadline/.test(l))
  t.equal(cut.length, 1, 'one cut logged: ' + cut.join(' | '))
  t.match(cut[0], new RegExp(`method=GET .*path=/v2/fault/test/blobs/${stalledDigest} .*ms=\\d+ .*grace_ms=3000`))
  t.match(lines.find((l) => /shutting down/.test(l)), /inflight=2 .*grace_ms=3000/)
  const last = lines[lines.length - 1]
  t.match(last, /INFO  stopped /, 'the last line says it stopped')
  t.match(last, /requests=2 .*drained=1 .*cut=1 .*ms=\d+/)
})
