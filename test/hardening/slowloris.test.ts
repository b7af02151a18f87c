// Slow clients cannot hold the proxy: headers trickled byte by byte are cut
// at the headers timeout (408, or a closed connection), a request body
// trickled to /token/ is cut at the request timeout, silent connections are
// closed, and none of them ever opens an upstream connection; a normal
// client is served all the while.
import t from 'tap'
import { bearerParams } from '../fixtures/proxy.js'
import { startHarness } from './fixtures/harness.js'
import { rawRequest } from './fixtures/raw-http.js'

t.test('trickled headers, trickled bodies, silent connections', async (t) => {
  const h = await startHarness(t, { registry: { auth: true }, proxy: { headersTimeout: 600, requestTimeout: 1200 } })
  const before = { registry: h.reg.connections.registry, token: h.reg.connections.token }
  const port = h.proxy.port
  const headerBytes = ['GET /v2/ HTTP/1.1\r\nHost: a\r\n', ...'X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'.split('')]
  const trickledHeaders = Array.from({ length: 30 }, () => rawRequest(port, headerBytes, { gapMs: 100, timeoutMs: 8000 }))
  // An announced realm, so the token handler does read the body.
  const ping = await h.get('/v2/', { headers: { authorization: '' } })
  const realm = new URL(bearerParams(ping.headers['www-authenticate'])['realm']!).pathname
  const body = [`POST ${realm} HTTP/1.1\r\nHost: a\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n`, ...'grant_type=password&username=a'.split('')]
  const trickledBodies = Array.from({ length: 10 }, () => rawRequest(port, body, { gapMs: 100, timeoutMs: 8000 }))
  const silent = Array.from({ length: 10 }, () => rawRequest(port, [], { timeoutMs: 8000 }))

  await new Promise((r) => setTimeout(r, 300))
  const normal = await h.get(h.blobPath)
  t.equal(normal.status, 200, 'a normal client is served meanwhile')

  for (const r of await Promise.all(trickledHeaders)) {
    t.ok(r.closed && r.ms < 4000, `trickled headers: closed after ${r.ms} ms (${r.status ?? 'no status'})`)
    t.ok(r.status === null || r.status === 408, 'with 408 or nothing')
  }
  for (const r of await Promise.all(trickledBodies)) {
    t.ok(r.closed && r.ms < 5000, `trickled body: closed after ${r.ms} ms (${r.status ?? 'no status'})`)
    t.ok(r.status === null || r.status === 408, 'with 408 or nothing')
  }
  for (const r of await Promise.all(silent)) t.ok(r.closed && r.ms < 4000, `silent connection: closed after ${r.ms} ms`)
  t.equal(h.reg.connections.token, before.token, 'no token request went upstream')
  t.equal(h.reg.connections.registry, before.registry + (h.reg.connections.registry > before.registry ? 1 : 0), 'the only upstream work was the normal request')
  await h.assertClean(t)
})
