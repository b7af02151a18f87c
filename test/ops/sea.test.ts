// `make sea`: crproxy as one executable (Node SEA: esbuild bundle injected
// into a copy of this node binary with postject, both via npx). It must
// start with no Node.js around it, carry the embedded registry map, and
// serve a cached blob verified in its worker thread. `-o build`: dist/ is
// built by `npm test`, not rebuilt under parallel tests.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient } from '../fixtures/proxy.js'
import { hasCommand } from './fixtures/helpers.js'
import { sha256 } from '../fixtures/sha256.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version

t.test('make sea → a single executable that serves and verifies cached blobs', { skip: !hasCommand('make') && 'make not installed' }, async (t) => {
  const tmp = t.testdir({ out: {}, map: {} })
  const out = join(tmp, 'out')
  const r = spawnSync('make', ['-o', 'build', '-o', 'node_modules', 'sea', `RELEASE_DIR=${out}`], { cwd: root, encoding: 'utf8', timeout: 180_000 })
  t.equal(r.status, 0, r.stderr)
  const exe = join(out, `crproxy-${version}-${process.platform}-${process.arch}`)
  t.ok(existsSync(exe), exe)
  const v = spawnSync(exe, ['--version'], { encoding: 'utf8', env: {} })
  t.equal(v.status, 0, v.stderr)
  t.match(v.stdout, `crproxy ${version} (built `)
  const c = spawnSync(exe, ['config', 'docker', '--suffix', 'm.test'], { encoding: 'utf8', env: {} })
  t.match(c.stdout, /docker\.m\.test:5000/, 'the embedded registry map is in the executable')

  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const mapFile = join(tmp, 'map', 'map.json')
  writeFileSync(mapFile, JSON.stringify({ default: hub.registryUrl }))
  const proc = spawn(exe, ['--listen', '127.0.0.1:0', '--registry-map', mapFile, '--cache-dir', join(tmp, 'cache'), '--redirect-allow', hub.redirectAllow.join(',')], { stdio: ['ignore', 'ignore', 'pipe'], env: {} })
  t.teardown(() => proc.kill('SIGKILL'))
  let log = ''
  proc.stderr!.on('data', (d: Buffer) => (log += d))
  for (let i = 0; i < 200 && !/listen=http:\/\/127\.0\.0\.1:\d+/.test(log); i++) await new Promise((r) => setTimeout(r, 25))
  const port = Number(/listen=http:\/\/127\.0\.0\.1:(\d+)/.exec(log)?.[1])
  t.ok(port > 0, log)
  const client = new PullClient(`http://127.0.0.1:${port}`)
  const img = hub.images['library/alpine:3.19']!
  const digest = img.blobs[0]!
  for (const round of ['miss', 'hit']) {
    const b = await client.get(`/v2/library/alpine/blobs/${digest}`)
    t.equal(b.status, 200, round)
    t.equal(sha256(b.body), digest, `${round}: verified bytes`)
  }
  t.equal(hub.count('cdn', 'GET'), 1, 'the second came from the cache (verified on serve in the worker thread)')
})
