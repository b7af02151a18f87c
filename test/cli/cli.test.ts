// The real CLI as users run it: flags (both spellings), environment
// variables, and one clear line with a non-zero exit for every bad start.
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { flags } from '../../lib/flags.js'
import { request } from '../fixtures/proxy.js'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { freePort } from '../fixtures/real/proc.js'
import { oneCleanLine, run, startWith } from './fixtures/run-cli.js'

t.test('--help lists every flag and its environment variable; -h too', async (t) => {
  const r = run(['--help'])
  t.equal(r.code, 0)
  for (const f of flags) {
    t.match(r.stdout, `--${f.name}`)
  }
  t.match(r.stdout, 'CRPROXY_LISTEN')
  t.equal(run(['-h']).stdout, r.stdout)
  t.equal(run(['-help']).stdout, r.stdout, 'the Go spelling')
})

t.test('--version prints version and build time', async (t) => {
  const r = run(['-version'])
  t.equal(r.code, 0)
  t.match(r.stdout, /^crproxy \d+\.\d+\.\d+ \(built \d{4}-\d\d-\d\dT[\d:.]+Z/)
})

t.test('the original single-dash spelling starts the proxy', async (t) => {
  const port = await freePort()
  const dir = t.testdir()
  const p = await startWith(t, [`-listen=127.0.0.1:${port}`, '-cache-dir', join(dir, 'c'), '-domain-suffix=example.test'], port)
  const help = await request(`http://127.0.0.1:${port}`, '/help')
  t.equal(JSON.parse(help.body.toString())['gcr'], 'https://gcr.io', 'embedded map loaded')
  t.match(p.log(), /cache=.*\/c\b/)
})

t.test('environment variables configure flags; the command line wins', async (t) => {
  const port = await freePort()
  await startWith(t, [], port, { CRPROXY_LISTEN: `127.0.0.1:${port}`, CRPROXY_DEFAULT_REGISTRY: 'http://127.0.0.1:1' })
  const help = JSON.parse((await request(`http://127.0.0.1:${port}`, '/help')).body.toString())
  t.equal(help.default, 'http://127.0.0.1:1')
  const port2 = await freePort()
  await startWith(t, ['--listen', `127.0.0.1:${port2}`], port2, { CRPROXY_LISTEN: `127.0.0.1:${port}` })
  t.pass('flag won over CRPROXY_LISTEN')
})

t.test('a port in use: exit 2 with one clear line', async (t) => {
  const s = net.createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => s.close(r)))
  oneCleanLine(t, run(['--listen', `127.0.0.1:${(s.address() as AddressInfo).port}`]), /address already in use/)
})

t.test('--registry-map from an http URL', async (t) => {
  const map = { default: 'http://127.0.0.1:1', quay: 'https://quay.io' }
  const s = http.createServer((_q, r) => r.end(JSON.stringify(map)))
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => s.close(r)))
  const p = await startCliProxy(['--registry-map', `http://127.0.0.1:${(s.address() as AddressInfo).port}/map.json`])
  t.teardown(() => p.close())
  t.same(JSON.parse((await request(p.url, '/help')).body.toString()), map)
})

t.test('SIGTERM: exit 0 after shutting down', async (t) => {
  const p = await startCliProxy([])
  t.equal(await p.close(), 0)
  t.match(p.log(), /shutting down/)
})

t.test('logs: one line per request; DEBUG=1 adds upstream detail; secrets never logged', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const dir = t.testdir()
  const mapFile = join(dir, 'map.json')
  writeFileSync(mapFile, JSON.stringify({ default: hub.registryUrl }))
  const p = await startCliProxy(['--registry-map', mapFile, '--redirect-allow', hub.redirectAllow.join(',')], { env: { DEBUG: '1' } })
  t.teardown(() => p.close())
  const ping = await request(p.url, '/v2/')
  const realm = new URL(/realm="([^"]+)"/.exec(String(ping.headers['www-authenticate']))![1]!)
  const secret = 'c2VjcmV0LXBhc3N3b3Jk'
  const tok = await request(p.url, `${realm.pathname}?service=fake-hub&scope=repository:library/busybox:pull&account=alice`, {
    headers: { authorization: `Basic ${Buffer.from('alice:wonderland').toString('base64')}` },
  })
  const token = JSON.parse(tok.body.toString()).token as string
  const img = hub.images['library/busybox:1.36']!
  await request(p.url, `/v2/library/busybox/blobs/${img.blobs[0]}`, { headers: { authorization: `Bearer ${token}` } })
  await request(p.url, '/v2/', { headers: { authorization: `Bearer ${secret}` } })
  await new Promise((r) => setTimeout(r, 100))
  const log = p.log()
  t.match(log, /INFO  request .*method=GET .*path=\/v2\/ .*status=401 .*ms=/)
  t.match(log, /DEBUG upstream redirect .*status=307 .*to=http:\/\/127.0.0.1:\d+\/blobs\/[0-9a-f]+\?…/)
  t.match(log, /DEBUG upstream request .*status=401/)
  t.match(log, /DEBUG challenge rewritten/)
  t.notMatch(log, token, 'token not logged')
  t.notMatch(log, secret, 'Authorization not logged')
  t.notMatch(log, Buffer.from('alice:wonderland').toString('base64'), 'Basic credentials not logged')
  t.notMatch(log, /account=alice/, 'token query strings not logged')
})
