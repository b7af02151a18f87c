// http_proxy / no_proxy from the environment of the real CLI.
import t from 'tap'
import { startCliProxy } from '../fixtures/cli-proxy.js'
import { startConnectProxy } from '../fixtures/connect-proxy.js'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { ACCEPT_ALL_MANIFESTS, PullClient } from '../fixtures/proxy.js'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

t.test('upstream traffic goes through http_proxy; no_proxy bypasses it', async (t) => {
  const hub = await startFakeHub()
  const outbound = await startConnectProxy({ auth: 'u:p' })
  t.teardown(() => Promise.all([hub.close(), outbound.close()]))
  const dir = t.testdir()
  const map = join(dir, 'map.json')
  writeFileSync(map, JSON.stringify({ default: hub.registryUrl }))

  // The token server and CDN are other ports of the hub's host: named, as an operator would.
  const allow = ['--redirect-allow', hub.redirectAllow.join(',')]
  const p = await startCliProxy(['--registry-map', map, ...allow], { env: { http_proxy: outbound.url } })
  t.teardown(() => p.close())
  const c = new PullClient(p.url)
  const m = await c.get('/v2/library/busybox/manifests/1.36', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(m.status, 200)
  t.ok(outbound.forwards.some((u) => u.endsWith('/v2/library/busybox/manifests/1.36')), 'manifest went through the proxy')
  t.ok(outbound.forwards.some((u) => u.startsWith(hub.tokenUrl)), 'token request went through the proxy')
  t.ok(outbound.authorizations.every((a) => a === 'Basic ' + Buffer.from('u:p').toString('base64')), 'proxy credentials sent')
  const img = hub.images['library/busybox:1.36']!
  const b = await c.get(`/v2/library/busybox/blobs/${img.blobs[0]}`)
  t.equal(b.status, 200)
  t.ok(outbound.forwards.some((u) => u.startsWith(hub.cdnUrl)), 'the CDN hop too')

  const before = outbound.forwards.length
  const q = await startCliProxy(['--registry-map', map, ...allow], { env: { http_proxy: outbound.url, no_proxy: '127.0.0.1' } })
  t.teardown(() => q.close())
  const m2 = await new PullClient(q.url).get('/v2/library/busybox/manifests/1.36', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(m2.status, 200)
  t.equal(outbound.forwards.length, before, 'no_proxy bypassed the proxy')
})
