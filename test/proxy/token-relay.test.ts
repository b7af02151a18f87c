// /token/ relays only to realms that configured upstreams announced.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { ACCEPT_ALL_MANIFESTS, PullClient, request, startTestProxy } from '../fixtures/proxy.js'

async function canary(t: { teardown(f: () => unknown): void }) {
  let hits = 0
  const s = http.createServer((_req, res) => {
    hits++
    res.end('{"token":"stolen"}')
  })
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => s.close(r)))
  return { port: (s.address() as AddressInfo).port, hits: () => hits }
}

t.test('a realm nobody announced is refused (no open proxy)', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const other = await canary(t)
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  await request(proxy.url, '/v2/') // announces the hub's realm
  for (const path of [
    `/token/default/http/127.0.0.1:${other.port}/token`,
    `/token/nokey/http/127.0.0.1:${other.port}/token`,
    `/token/default/http/127.0.0.1:${other.port}/../token`,
    `/token/default/file/etc/passwd`,
  ]) {
    const res = await request(proxy.url, path + '?scope=x')
    t.ok(res.status === 403 || res.status === 404, `${path} → ${res.status}`)
    t.match(JSON.parse(res.body.toString()), { errors: [{ code: String }] })
  }
  t.equal(other.hits(), 0, 'the unannounced server was never contacted')
})

t.test('a fresh process learns the realm from the upstream itself', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const realm = new URL(hub.tokenUrl)
  // No /v2/ ping first: as after a restart, or when another worker answered it.
  const res = await request(proxy.url, `/token/default/http/${realm.host}${realm.pathname}?service=fake-hub&scope=repository:library/alpine:pull`)
  t.equal(res.status, 200)
  t.ok(JSON.parse(res.body.toString()).token)
  t.equal(hub.count('registry', 'GET', '/v2/'), 1, 'asked the upstream for its challenge')
})

t.test('private repository: credentials relayed by GET (Basic) and by POST (OAuth2 form)', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const anon = new PullClient(proxy.url)
  const denied = await anon.get('/v2/private/secret/manifests/1', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(denied.status, 401, 'anonymous is refused')
  t.match(JSON.parse(denied.body.toString()), { errors: [{ code: 'UNAUTHORIZED' }] })

  const wrong = new PullClient(proxy.url, { basic: 'alice:nope' })
  const ping = await request(proxy.url, '/v2/')
  const login = await wrong.login(ping.headers['www-authenticate']!)
  t.equal(login.status, 401, 'bad credentials are refused by the token server, through the proxy')

  const alice = new PullClient(proxy.url, { basic: 'alice:wonderland' })
  const img = hub.images['private/secret:1']!
  const m = await alice.get('/v2/private/secret/manifests/1', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(m.status, 200)
  t.equal(m.headers['docker-content-digest'], img.digest)

  // containerd/Docker with credentials POST a form.
  const realm = new URL(/realm="([^"]+)"/.exec(String(ping.headers['www-authenticate']))![1]!)
  const form = new URLSearchParams({
    grant_type: 'password',
    username: 'alice',
    password: 'wonderland',
    service: 'fake-hub',
    scope: 'repository:private/secret:pull',
    client_id: 'containerd',
  }).toString()
  const posted = await request(proxy.url, realm.pathname, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  })
  t.equal(posted.status, 200)
  const tok = JSON.parse(posted.body.toString())
  t.ok(tok.access_token, 'token response passed back unchanged')
  t.ok(tok.refresh_token)
  const seen = hub.requests.find((r) => r.server === 'token' && r.method === 'POST')
  t.equal(seen?.body, form, 'the form body reached the token server as sent')
})

t.test('oversized token bodies are refused', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const ping = await request(proxy.url, '/v2/')
  const realm = new URL(/realm="([^"]+)"/.exec(String(ping.headers['www-authenticate']))![1]!)
  const res = await request(proxy.url, realm.pathname, { method: 'POST', body: 'x'.repeat(200 * 1024) })
  t.equal(res.status, 413)
  t.equal(hub.count('token'), 0)
})

t.test('X-Forwarded-Proto/-Host shape the realm only with --trust-proxy', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const fwd = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' }
  const plain = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  const a = await request(plain.url, '/v2/', { host: 'mirror.test:5000', headers: fwd })
  t.match(String(a.headers['www-authenticate']), /realm="http:\/\/mirror\.test:5000\/token\//, 'ignored by default')
  const trusting = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, trustProxy: true })
  const b = await request(trusting.url, '/v2/', { host: 'mirror.test:5000', headers: { ...fwd, 'x-forwarded-host': 'mirror.example.com' } })
  t.match(String(b.headers['www-authenticate']), /realm="https:\/\/mirror\.example\.com\/token\//, 'honoured when trusted')
})
