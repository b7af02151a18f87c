// Push methods are refused, and invalid names or digests never reach the
// upstream.
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { request, startTestProxy } from '../fixtures/proxy.js'

const hex = 'b'.repeat(64)

t.test('push and delete methods → 405 UNSUPPORTED', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  for (const [method, path] of [
    ['PUT', '/v2/library/alpine/manifests/3.19'],
    ['POST', '/v2/library/alpine/blobs/uploads/'],
    ['DELETE', `/v2/library/alpine/blobs/sha256:${hex}`],
    ['PATCH', '/v2/library/alpine/blobs/uploads/x'],
  ] as const) {
    const res = await request(proxy.url, path, { method, body: method === 'DELETE' ? undefined : 'x' })
    t.equal(res.status, 405, `${method} ${path}`)
    t.equal(res.headers['content-type'], 'application/json')
    t.match(JSON.parse(res.body.toString()), { errors: [{ code: 'UNSUPPORTED' }] })
  }
  t.equal(hub.count('registry'), 0, 'nothing reached the upstream')
})

t.test('invalid names and digests → 400 before any upstream request', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const cases: Array<[string, number, string]> = [
    ['/v2/Library/Alpine/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/a/%2e%2e/b/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/a%2Fb/manifests/latest', 400, 'NAME_INVALID'],
    ['/v2/a/blobs/sha256:1234', 400, 'DIGEST_INVALID'],
    [`/v2/a/blobs/sha256:${hex.toUpperCase()}`, 400, 'DIGEST_INVALID'],
    ['/v2/a/blobs/latest', 400, 'DIGEST_INVALID'],
    ['/v2/a/manifests/sha256:zz', 400, 'DIGEST_INVALID'],
    [`/v2/${'a'.repeat(300)}/manifests/latest`, 400, 'NAME_INVALID'],
    ['/v2/a/manifests/-bad', 400, 'MANIFEST_INVALID'],
  ]
  for (const [path, status, code] of cases) {
    const res = await request(proxy.url, path)
    t.equal(res.status, status, path.slice(0, 60))
    t.match(JSON.parse(res.body.toString()), { errors: [{ code }] })
  }
  t.equal(hub.count('registry'), 0, 'nothing reached the upstream')
})

t.test('unknown endpoints are 404 with a registry error body', async (t) => {
  const proxy = await startTestProxy(t, { registryMap: { default: 'http://127.0.0.1:9' } })
  // `/` is the status page (test/ops/status-page.test.ts covers it, and its 404 under --no-status).
  for (const p of ['/v1/_ping', '/v2/a/b', '/token', '/index.html', '/status']) {
    const res = await request(proxy.url, p)
    t.equal(res.status, 404, p)
    t.match(JSON.parse(res.body.toString()), { errors: [{ code: String }] })
  }
})

t.test('malformed Host → 400', async (t) => {
  const proxy = await startTestProxy(t, { registryMap: { default: 'http://127.0.0.1:9' } })
  const res = await request(proxy.url, '/v2/', { host: 'bad host/../x' })
  t.equal(res.status, 400)
})

t.test('/healthz, /help, /metrics', async (t) => {
  const proxy = await startTestProxy(t, { registryMap: { default: 'https://registry-1.docker.io', gcr: 'https://gcr.io' } })
  const h = await request(proxy.url, '/healthz')
  t.equal(h.status, 200)
  t.same(JSON.parse(h.body.toString()), { status: 'ok' })
  const help = await request(proxy.url, '/help')
  t.same(JSON.parse(help.body.toString()), { default: 'https://registry-1.docker.io', gcr: 'https://gcr.io' })
  const m = await request(proxy.url, '/metrics')
  t.equal(m.status, 200)
  t.match(m.body.toString(), /# TYPE crproxy_requests_total counter/)
  t.match(m.body.toString(), /crproxy_requests_total\{status="200",upstream="-"\} 2/)
})
