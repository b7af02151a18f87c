// /token/ never reaches a host no configured upstream announced, nor an
// internal address an upstream announced (SSRF): a realm on another loopback
// address, on [::1] or at cloud metadata is refused with 502 and the canary
// is never connected to; a realm nobody announced is 403; hand-made /token/
// paths (traversal, encodings, other ports) are 403/404. The upstream's own
// token server (another port on its host, named by --redirect-allow) keeps
// working.
import t from 'tap'
import { bearerParams } from '../fixtures/proxy.js'
import { startCanary } from './fixtures/canary.js'
import { isRegistryError, startHarness } from './fixtures/harness.js'

t.test('announced realms at internal addresses are refused', async (t) => {
  const v4 = await startCanary(t, '127.0.0.2')
  const v6 = await startCanary(t, '::1')
  const h = await startHarness(t, { registry: { auth: true } })
  const realms = [
    ...(v4 ? [`${v4.origin}/token`] : []),
    ...(v6 ? [`${v6.origin}/token`] : []),
    'http://169.254.169.254/latest/meta-data/',
    'http://10.0.0.1/token',
  ]
  for (const realm of realms) {
    h.reg.clearFaults()
    h.reg.fault('registry', { kind: 'headers', lines: [`WWW-Authenticate: Bearer realm="${realm}",service="evil"`] }, { path: /^\/v2\/$/ })
    // Without credentials the fixture answers 401 with its own challenge and this one.
    const ping = await h.get('/v2/', { headers: { authorization: '' } })
    const rewritten = ([] as string[]).concat(ping.headers['www-authenticate'] ?? []).join(', ')
    const evil = /realm="([^"]*)",service="evil"/.exec(rewritten)
    t.ok(evil, `the challenge naming ${realm} was rewritten to the proxy`)
    const path = new URL(evil![1]!).pathname
    const o = await h.get(path + '?service=evil')
    t.equal(o.status, 502, `${realm}: refused`)
    t.ok(isRegistryError(o))
  }
  t.equal(v4?.connections ?? 0, 0, '127.0.0.2 never connected to')
  t.equal(v6?.connections ?? 0, 0, '::1 never connected to')
  await h.assertClean(t)
})

t.test('realms nobody announced, and hand-made token paths, are refused', async (t) => {
  const v4 = await startCanary(t, '127.0.0.2')
  const h = await startHarness(t, { registry: { auth: true } })
  const ping = await h.get('/v2/', { headers: { authorization: '' } })
  const good = new URL(bearerParams(ping.headers['www-authenticate'])['realm']!).pathname
  t.equal((await h.get(good)).status, 200, 'the announced realm works')
  const tokenPort = h.reg.ports.token
  const otherLoopbackPort = h.reg.ports.cdn // a real server on the upstream's host, never announced as a realm
  const paths = [
    `/token/default/http/127.0.0.1:${otherLoopbackPort}/token`,
    `/token/default/http/127.0.0.1:${tokenPort}/admin`,
    `/token/default/http/127.0.0.1:${tokenPort}/token/../admin`,
    `/token/default/http/127.0.0.1:${tokenPort}/%2e%2e/admin`,
    `/token/default/http/127.0.0.1:${tokenPort}/token%2f..%2fadmin`,
    `/token/default/http/127.0.0.1:${tokenPort}\\token`,
    `/token/default/http/127.0.0.1%3a${tokenPort}/token`,
    `/token/default/file/etc/passwd`,
    `/token/default/https/user@127.0.0.1:${tokenPort}/token`,
    `/token/nosuchkey/http/127.0.0.1:${tokenPort}/token`,
    `/token/DEFAULT/http/127.0.0.1:${tokenPort}/token/`,
    ...(v4 ? [`/token/default/http/127.0.0.2:${v4.port}/token`] : []),
    `/token/default/http/169.254.169.254/latest/meta-data`,
    `/token/../v2/`,
  ]
  const cdnBefore = h.reg.count('cdn')
  for (const p of paths) {
    const o = await h.get(p)
    t.ok(o.status === 403 || o.status === 404, `${p} → ${o.status}`)
    t.ok(isRegistryError(o), 'a registry error body')
  }
  t.equal(v4?.connections ?? 0, 0, 'the canary was never connected to')
  t.equal(h.reg.count('cdn'), cdnBefore, 'the unannounced loopback server was never asked')
  t.equal(h.reg.count('token', undefined, /admin/), 0, 'no other path on the token server was asked')
  await h.assertClean(t)
})
