// --workers 2: both workers serve one port and one cache directory; a blob
// pulled over two connections (landing on different workers) is downloaded
// from the upstream once; a killed worker is replaced; SIGHUP and SIGTERM
// reach every worker.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient, request } from '../fixtures/proxy.js'
import { parseWorkers } from '../../lib/workers.js'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { sha256 } from '../fixtures/sha256.js'

t.test('parseWorkers', async (t) => {
  t.equal(parseWorkers('1'), 1)
  t.equal(parseWorkers('3'), 3)
  t.ok(parseWorkers('auto') >= 1)
  t.equal(parseWorkers('0'), parseWorkers('auto'))
  t.throws(() => parseWorkers('many'), /--workers/)
})

t.test('two workers, one port, one cache, one upstream download', async (t) => {
  const hub = await startFakeHub({ bigLayerSize: 4 * 1024 * 1024 })
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const mapFile = join(dir, 'map.json')
  writeFileSync(mapFile, JSON.stringify({ default: hub.registryUrl }))
  const p = await startCliProxy(['--workers', '2', '--listen', '127.0.0.1:0', '--cache-dir', join(dir, 'cache'), '--registry-map', mapFile, '--redirect-allow', hub.redirectAllow.join(',')], { listen: false })
  t.teardown(() => p.close())
  await p.waitFor(/crproxy listening worker=\d+/, 15_000, 2)
  const pids = [...p.log().matchAll(/crproxy listening worker=\d+ pid=(\d+)/g)].map((m) => Number(m[1]))
  t.equal(new Set(pids).size, 2, 'two worker processes')

  t.equal((await request(p.url, '/healthz')).status, 200)

  const img = hub.images['library/big:1']!
  const layer = img.blobs[img.blobs.length - 1]!
  const c = new PullClient(p.url)
  t.equal((await c.get('/v2/library/big/manifests/1', { accept: img.mediaType })).status, 200, 'token through whichever worker')
  const path = `/v2/library/big/blobs/${layer}`
  const headers = { authorization: `Bearer ${c.token}` }
  const [a, b] = await Promise.all([request(p.url, path, { headers }), request(p.url, path, { headers })])
  t.equal(a.status, 200)
  t.equal(b.status, 200)
  t.equal(sha256(a.body), layer)
  t.equal(sha256(b.body), layer)
  t.equal(hub.downloads('cdn', `/blobs/${layer.slice(7)}`), 1, 'downloaded from the upstream once')
  await p.waitFor(new RegExp(`INFO  request worker=\\d+ .*path=/v2/library/big/blobs/${layer}`), 5000, 2)
  const servedBy = [...p.log().matchAll(new RegExp(`INFO  request worker=(\\d+) .*path=/v2/library/big/blobs/${layer}`, 'g'))].map((m) => m[1])
  t.equal(new Set(servedBy).size, 2, `the two connections were served by different workers (${servedBy.join(',')})`)

  // A worker that dies is replaced.
  process.kill(pids[0]!, 'SIGKILL')
  await p.waitFor(/worker died: restarting/)
  await p.waitFor(/crproxy listening worker=\d+/, 15_000, 3)
  for (let i = 0; i < 4; i++) t.equal((await request(p.url, '/healthz')).status, 200, `healthz ${i} after the restart`)

  // SIGHUP reaches every worker.
  p.proc.kill('SIGHUP')
  await p.waitFor(/registry map unchanged/, 5000, 2)
  t.pass('both workers reloaded')

  t.equal(await p.close(), 0, 'SIGTERM: the primary exits 0')
  for (const pid of pids.slice(1)) t.throws(() => process.kill(pid, 0), 'worker gone')
  t.equal((p.log().match(/shutting down: finishing in-flight requests/g) ?? []).length, 2, 'each worker drained')
})

t.test('a worker that cannot listen stops the primary with exit 2', async (t) => {
  const net = await import('node:net')
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => s.close(r)))
  const port = (s.address() as import('node:net').AddressInfo).port
  const { spawnSync } = await import('node:child_process')
  const { binPath } = await import('../fixtures/cli-proxy.js')
  const r = spawnSync(process.execPath, [binPath, '--workers', '2', '--listen', `127.0.0.1:${port}`], { encoding: 'utf8', timeout: 15_000 })
  t.equal(r.status, 2)
  t.match(r.stderr, /address already in use/)
})
