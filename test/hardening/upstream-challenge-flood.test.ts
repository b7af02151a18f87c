// An upstream answering with hostile WWW-Authenticate headers: thousands of
// parameters, hundreds of challenges, huge quoted strings, unterminated
// quotes, non-http realms, a new realm in every response. The proxy answers
// promptly, hands on only challenges it could parse (realms rewritten to
// itself), keeps its realm table bounded, and stays healthy.
import t from 'tap'
import { MAX_REALMS } from '../../lib/registry/realms.js'
import { startHarness } from './fixtures/harness.js'

t.test('hostile challenges', async (t) => {
  const h = await startHarness(t, { registry: { auth: true } })
  const realm = h.reg.tokenUrl
  const cases: Array<[string, string[]]> = [
    ['10 000 parameters', [`Bearer realm="${realm}",${Array.from({ length: 10_000 }, (_, i) => `p${i}=v`).join(',')}`]],
    ['500 challenges', Array.from({ length: 500 }, (_, i) => `Bearer realm="${realm}",service="s${i}"`)],
    ['40 KiB of backslashes', [`Bearer realm="${realm}",service="${'\\\\'.repeat(20_000)}"`]],
    ['unterminated quote', [`Bearer realm="${realm}`]],
    ['javascript: realm', ['Bearer realm="javascript:alert(1)",service="x"']],
    ['file: realm', ['Bearer realm="file:///etc/passwd",service="x"']],
    ['CRLF-encoded realm', [`Bearer realm="${realm}%0d%0aX-Injected: 1",service="x"`]],
    ['realm with userinfo', ['Bearer realm="http://user:pass@127.0.0.1:1/token",service="x"']],
  ]
  for (const [label, lines] of cases) {
    h.reg.clearFaults()
    h.reg.fault('registry', { kind: 'headers', lines: lines.map((l) => `WWW-Authenticate: ${l}`) }, { path: /^\/v2\/$/ })
    const started = Date.now()
    const o = await h.get('/v2/', { headers: { authorization: '' } })
    const ms = Date.now() - started
    t.ok(o.status === 401 || o.status === 502, `${label}: ${o.status} in ${ms} ms`)
    t.ok(ms < 1000, 'promptly')
    t.equal(o.headers['x-injected'], undefined, 'nothing injected')
    const challenges = ([] as string[]).concat(o.headers['www-authenticate'] ?? [])
    for (const c of challenges) {
      for (const m of c.matchAll(/realm="([^"]*)"/g)) {
        const u = new URL(m[1]!)
        t.ok(u.origin === h.proxy.url || !/^bearer/i.test(c), `a bearer realm handed on points at the proxy (${u.origin})`)
      }
    }
  }
  h.reg.clearFaults()
  // A new realm in every challenge, 16 challenges a response.
  for (let i = 0; i < MAX_REALMS + 256; i += 16) {
    const lines = Array.from({ length: 16 }, (_, j) => `WWW-Authenticate: Bearer realm="http://127.0.0.1:1/t${i + j}",service="x"`)
    h.reg.rules = [{ role: 'registry', path: /^\/v2\/$/, fault: { kind: 'headers', lines } }]
    await h.get('/v2/', { headers: { authorization: '' } })
  }
  t.ok(h.proxy.deps.realms.size <= MAX_REALMS, `the realm table stays bounded (${h.proxy.deps.realms.size})`)
  t.equal((await h.get('/healthz')).status, 200, 'healthy')
  await h.assertClean(t)
})
