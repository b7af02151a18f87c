// Routing by Host and ?ns= against two real upstreams: which one a request
// reaches is read off the upstreams' own request logs.
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { ACCEPT_ALL_MANIFESTS, PullClient, request, startTestProxy } from '../fixtures/proxy.js'

t.test('Host and ns pick the upstream', async (t) => {
  const a = await startFakeHub()
  const b = await startFakeHub()
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const proxy = await startTestProxy(t, {
    registryMap: { default: a.registryUrl, hub: a.registryUrl, other: b.registryUrl, 'k8s.io': b.registryUrl },
    redirectAllow: [...a.redirectAllow, ...b.redirectAllow],
    domainSuffix: 'crproxy.test',
  })
  const port = proxy.port
  const where = async (host: string, ns?: string) => {
    a.reset()
    b.reset()
    const res = await request(proxy.url, '/v2/' + (ns ? `?ns=${ns}` : ''), { host })
    const hit = a.count('registry') ? 'a' : b.count('registry') ? 'b' : 'none'
    return `${res.status} ${hit}`
  }
  t.equal(await where(`other.crproxy.test:${port}`), '401 b', 'subdomain with port')
  t.equal(await where(`OTHER.CRPROXY.TEST`), '401 b', 'upper case')
  t.equal(await where(`k8s.io.crproxy.test`), '401 b', 'key with a dot')
  t.equal(await where(`hub.crproxy.test`), '401 a')
  t.equal(await where(`crproxy.test:${port}`), '401 a', 'bare suffix → default')
  t.equal(await where(`127.0.0.1:${port}`), '401 a', 'IP → default')
  t.equal(await where(`127.0.0.1:${port}`, b.registryHost), '401 b', 'ns picks the upstream')
  t.equal(await where(`crproxy.test`, b.registryHost), '401 b', 'ns on the bare suffix')
  t.equal(await where(`127.0.0.1:${port}`, 'unknown.example.org'), '404 none', 'unknown ns is a 404, not the default')
  t.equal(await where(`nope.crproxy.test`), '404 none', 'unknown key is a 404')

  const unknown = await request(proxy.url, '/v2/library/alpine/manifests/3.19', { host: 'nope.crproxy.test' })
  t.equal(unknown.headers['content-type'], 'application/json')
  t.match(JSON.parse(unknown.body.toString()), { errors: [{ code: 'NAME_UNKNOWN' }] })

  // A full pull through a subdomain, token included.
  const c = new PullClient(proxy.url, { host: `other.crproxy.test:${port}` })
  const m = await c.get('/v2/library/busybox/manifests/1.36', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(m.status, 200)
  t.ok(b.count('token') > 0 && a.count('token') === 0, "the token came from other's realm")
})

t.test('--default-registry overrides the map default', async (t) => {
  const a = await startFakeHub()
  const b = await startFakeHub()
  t.teardown(() => Promise.all([a.close(), b.close()]))
  const proxy = await startTestProxy(t, { registryMap: { default: a.registryUrl }, defaultRegistry: b.registryUrl, redirectAllow: b.redirectAllow })
  await request(proxy.url, '/v2/')
  t.equal(a.count('registry'), 0)
  t.equal(b.count('registry'), 1)
  const help = await request(proxy.url, '/help')
  t.same(JSON.parse(help.body.toString()), { default: b.registryUrl }, '/help shows the effective map')
})

t.test('Docker Hub: single-segment names mean library/<name>, in paths and token scopes', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow, dockerHubKeys: ['default'] })
  const c = new PullClient(proxy.url)
  // What containerd computes itself: a scope without library/.
  const ping = await request(proxy.url, '/v2/')
  const realm = new URL(/realm="([^"]+)"/.exec(String(ping.headers['www-authenticate']))![1]!)
  const tok = await request(proxy.url, `${realm.pathname}?service=fake-hub&scope=repository:alpine:pull`)
  t.equal(tok.status, 200)
  c.token = JSON.parse(tok.body.toString()).token
  const m = await c.get('/v2/alpine/manifests/3.19', { accept: ACCEPT_ALL_MANIFESTS })
  t.equal(m.status, 200, 'token scope and path were both rewritten to library/alpine')
  t.equal(hub.count('registry', 'GET', '/v2/library/alpine/manifests/3.19'), 1)
  const scopes = hub.requests.filter((r) => r.server === 'token').map((r) => new URLSearchParams(r.query).get('scope'))
  t.same(scopes, ['repository:library/alpine:pull'])
})
