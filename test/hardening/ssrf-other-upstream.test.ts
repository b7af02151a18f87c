// A redirect or token realm fetched for one upstream (map entry) reaches that
// upstream's own host and port, public addresses and --redirect-allow, and
// nothing else on a private address: not another entry's private host (on
// its port or any other), and not another port of an address the upstream's
// own name resolved to (a name rebound to loopback opens nothing). Each
// refusal is a 502 that carries nothing of the target, the target never hears
// of it, and the upstream's own redirects keep working.
import t from 'tap'
import { startCanary } from './fixtures/canary.js'
import { isRegistryError, startHarness } from './fixtures/harness.js'

t.test('a redirect to another entry’s private host is refused, on its port and on any other', async (t) => {
  // Entry b: a registry on a private address of its own, and another service on that host.
  const b = await startCanary(t, '127.0.0.2', Buffer.from('SECRET of entry b\n'))
  const bOther = await startCanary(t, '127.0.0.2', Buffer.from('SECRET of another service on b’s host\n'))
  if (!b || !bOther) return t.plan(0, '127.0.0.2 is not available here')
  const h = await startHarness(t, { cache: true, upstreams: { b: b.origin } })
  h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2 })
  for (const location of [`${b.origin}/v2/internal/blobs/x`, `${bOther.origin}/admin`]) {
    for (const [role, path] of [
      ['registry', h.blobPath],
      ['cdn', h.blobPath],
      ['registry', `/v2/${h.repo}/manifests/v1`],
    ] as const) {
      h.reg.clearFaults()
      h.reg.fault(role, { kind: 'redirect', status: 307, location })
      const o = await h.get(path)
      t.equal(o.status, 502, `default's ${role} → ${location}: 502`)
      t.ok(isRegistryError(o), 'a registry error body')
      t.notMatch(o.body.toString(), /SECRET/, 'nothing of the target in the answer')
    }
  }
  t.equal(b.connections, 0, 'entry b was never connected to for default')
  t.equal(bOther.connections, 0, 'the other port of b’s host was never connected to')
  t.equal(h.proxy.deps.cache?.cached(h.digest), undefined, 'nothing cached')
  await h.assertClean(t)
  await h.assertRecovers(t, 'default’s own redirects (its CDN, named by --redirect-allow)')

  // b is a configured upstream all the same: its own requests reach it.
  const own = await h.get(`/v2/?ns=127.0.0.2:${b.port}`)
  t.equal(own.status, 200, 'entry b answers its own requests')
  t.match(own.body.toString(), /SECRET of entry b/)
})

t.test('a realm announced at another entry’s private host is refused, on its port and on any other', async (t) => {
  const b = await startCanary(t, '127.0.0.2', Buffer.from('SECRET of entry b\n'))
  const bOther = await startCanary(t, '127.0.0.2', Buffer.from('SECRET of another service on b’s host\n'))
  if (!b || !bOther) return t.plan(0, '127.0.0.2 is not available here')
  const h = await startHarness(t, { registry: { auth: true }, upstreams: { b: b.origin } })
  for (const realm of [`${b.origin}/token`, `${bOther.origin}/token`]) {
    h.reg.clearFaults()
    h.reg.fault('registry', { kind: 'headers', lines: [`WWW-Authenticate: Bearer realm="${realm}",service="evil"`] }, { path: /^\/v2\/$/ })
    const ping = await h.get('/v2/', { headers: { authorization: '' } })
    const rewritten = ([] as string[]).concat(ping.headers['www-authenticate'] ?? []).join(', ')
    const evil = /realm="([^"]*)",service="evil"/.exec(rewritten)
    t.ok(evil, `the challenge naming ${realm} was rewritten to the proxy`)
    const path = new URL(evil![1]!).pathname
    t.equal(path, `/token/default/http/${new URL(realm).host}/token`, 'a /token/ path under default')
    const o = await h.get(path + '?service=evil')
    t.equal(o.status, 502, `${path}: refused`)
    t.ok(isRegistryError(o), 'a registry error body')
    t.notMatch(o.body.toString(), /SECRET/, 'nothing of the target in the answer')
  }
  t.equal(b.connections, 0, 'entry b was never connected to for default')
  t.equal(bOther.connections, 0, 'the other port of b’s host was never connected to')
  h.reg.clearFaults()
  const ping = await h.get('/v2/', { headers: { authorization: '' } })
  const good = /realm="([^"]*)",service="fault-registry"/.exec(([] as string[]).concat(ping.headers['www-authenticate'] ?? []).join(', '))
  t.equal((await h.get(new URL(good![1]!).pathname)).status, 200, 'default’s own token server still answers')
  await h.assertClean(t)
})

t.test('an upstream named by a name that resolves to loopback opens no other port there', async (t) => {
  // The service an upstream whose name was rebound to 127.0.0.1 would like to reach.
  const internal = await startCanary(t, '127.0.0.1', Buffer.from('SECRET loopback service\n'))
  if (!internal) return t.plan(0, '127.0.0.1 is not available here')
  const h = await startHarness(t, { registryHost: 'localhost' })
  // The warm-up pull reached the upstream at 127.0.0.1 through its name.
  for (const location of [`http://127.0.0.1:${internal.port}/x`, `http://localhost:${internal.port}/x`]) {
    h.reg.clearFaults()
    h.reg.fault('registry', { kind: 'redirect', status: 307, location })
    const o = await h.get(h.blobPath)
    t.equal(o.status, 502, `→ ${location}: 502`)
    t.notMatch(o.body.toString(), /SECRET/, 'nothing of the target in the answer')
  }
  t.equal(internal.connections, 0, 'the loopback service was never connected to')
  await h.assertClean(t)
  await h.assertRecovers(t, 'its own redirects (its CDN, named by --redirect-allow)')
})
