// SIGHUP re-reads --registry-map: a valid new map takes over (routing and
// /help), --default-registry still wins over its `default`, and a broken file
// keeps the running map with one warning line.
import { writeFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { request } from '../fixtures/proxy.js'
import { startCliProxy } from '../fixtures/cli-proxy.js'

t.test('SIGHUP reloads the registry map; a broken one is refused', async (t) => {
  // The upstream the new map adds: on another loopback address than the
  // first map's, like an internal registry on a private address.
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' })
    res.end('{}')
  })
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.2', r))
  t.teardown(() => new Promise((r) => upstream.close(r)))
  const quay = `http://127.0.0.2:${(upstream.address() as AddressInfo).port}`
  const dir = t.testdir()
  const mapFile = join(dir, 'map.json')
  writeFileSync(mapFile, JSON.stringify({ default: 'http://127.0.0.1:1', gcr: 'https://gcr.io' }))
  const p = await startCliProxy(['--listen', '127.0.0.1:0', '--registry-map', mapFile, '--domain-suffix', 'mirror.test', '--default-registry', 'http://127.0.0.1:2'], { listen: false })
  t.teardown(() => p.close())
  const help = async () => JSON.parse((await request(p.url, '/help')).body.toString()) as Record<string, string>
  const routeStatus = async (host: string) => (await request(p.url, '/v2/x/manifests/1', { host })).status

  t.same(await help(), { default: 'http://127.0.0.1:2', gcr: 'https://gcr.io' })
  t.equal(await routeStatus('quay.mirror.test'), 404, 'quay is not configured yet')

  writeFileSync(mapFile, JSON.stringify({ default: 'http://127.0.0.1:1', quay }))
  p.proc.kill('SIGHUP')
  await p.waitFor(/INFO  registry map reloaded registries=2/)
  t.same(await help(), { default: 'http://127.0.0.1:2', quay }, '--default-registry still wins')
  t.equal(await routeStatus('quay.mirror.test'), 200, 'quay routes now, to its upstream on a private address')
  t.not(await routeStatus('quay.mirror.test'), 404, 'quay routes now')
  t.equal(await routeStatus('gcr.mirror.test'), 404, 'gcr is gone')

  writeFileSync(mapFile, '{"quay": ')
  p.proc.kill('SIGHUP')
  await p.waitFor(/WARN  registry map reload failed: keeping the current map .*not valid JSON/)
  t.same(await help(), { default: 'http://127.0.0.1:2', quay }, 'the running map stays')

  writeFileSync(mapFile, JSON.stringify({ default: 'ftp://nope' }))
  p.proc.kill('SIGHUP')
  await p.waitFor(/WARN  registry map reload failed: .*not an http\(s\) URL/)
  t.equal(p.proc.exitCode, null, 'still running')

  p.proc.kill('SIGHUP')
  await p.waitFor(/registry map reload failed/, 5000, 3)
  writeFileSync(mapFile, JSON.stringify({ default: 'http://127.0.0.1:1', quay }))
  p.proc.kill('SIGHUP')
  await p.waitFor(/INFO  registry map unchanged/)
  t.equal(await p.close(), 0)
})
