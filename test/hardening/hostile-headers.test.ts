// Hostile request heads over raw sockets: oversized and overnumerous
// headers, malformed or repeated Host, odd methods, bodies on GET,
// conflicting Content-Length/Transfer-Encoding (request smuggling), bad
// Range values. Each gets a proper HTTP answer (4xx, or the resource when
// harmless) or a closed connection, never a 5xx or a desynchronised
// connection, and nothing hostile reaches the upstream.
import t, { type Test } from 'tap'
import { startHarness, type Harness } from './fixtures/harness.js'
import { rawRequest } from './fixtures/raw-http.js'
import { sha256 } from '../fixtures/sha256.js'
import { waitFor } from '../fixtures/wait.js'

const CRLF = '\r\n'
const req = (head: string, body = '') => Buffer.from(head.split('\n').join(CRLF) + CRLF + CRLF + body, 'latin1')

async function expectStatus(t: Test, h: Harness, label: string, data: Buffer, allowed: number[]): Promise<number[]> {
  const r = await rawRequest(h.proxy.port, data, { timeoutMs: 3000 })
  t.ok(r.status === null ? allowed.includes(0) : allowed.includes(r.status), `${label} → ${r.status ?? 'closed'}`)
  return r.statuses
}

t.test('sizes, Host, methods', async (t) => {
  const h = await startHarness(t, {})
  const upstream = h.reg.requests.length
  await expectStatus(t, h, '40 KiB header', req(`GET /healthz HTTP/1.1\nHost: a\nX-Big: ${'x'.repeat(40_000)}`), [431])
  await expectStatus(t, h, '5000 headers', req(`GET /healthz HTTP/1.1\nHost: a\n${Array.from({ length: 5000 }, (_, i) => `X-${i}: y`).join('\n')}`), [200, 431])
  for (const host of ['a b', 'evil.com@127.0.0.1', '[::1', 'a:99999999', 'a/b', 'a\\b', '', 'a%2fb', 'ünï.example']) {
    await expectStatus(t, h, `Host: ${JSON.stringify(host)}`, req(`GET /v2/ HTTP/1.1\nHost: ${host}\nConnection: close`), [400])
  }
  await expectStatus(t, h, 'two Host headers', req('GET /v2/ HTTP/1.1\nHost: a\nHost: b\nConnection: close'), [400])
  await expectStatus(t, h, 'no Host (HTTP/1.1)', req('GET /v2/ HTTP/1.1\nConnection: close'), [400])
  await expectStatus(t, h, 'no Host (HTTP/1.0)', req('GET /healthz HTTP/1.0'), [200])
  for (const m of ['PROPFIND', 'TRACE', 'OPTIONS', 'PUT', 'DELETE', 'PATCH', 'POST', 'MKCOL', 'SEARCH']) {
    await expectStatus(t, h, `${m} /v2/a/manifests/x`, req(`${m} /v2/a/manifests/x HTTP/1.1\nHost: a\nContent-Length: 0\nConnection: close`), [405])
  }
  for (const m of ['get', 'BREW', 'G\u00e9T', 'GET\u0000']) {
    await expectStatus(t, h, `method ${JSON.stringify(m)}`, req(`${m} /v2/ HTTP/1.1\nHost: a\nConnection: close`), [400, 405, 0])
  }
  await expectStatus(t, h, 'CONNECT', req('CONNECT 127.0.0.1:22 HTTP/1.1\nHost: 127.0.0.1:22'), [0, 400, 405])
  await expectStatus(t, h, 'HTTP/2 preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), [0, 400, 505])
  await expectStatus(t, h, 'HTTP/3.0', req('GET /v2/ HTTP/3.0\nHost: a'), [0, 400, 505])
  await expectStatus(t, h, 'X-Request-Id with junk', req(`GET /healthz HTTP/1.1\nHost: a\nX-Request-Id: ${'é'.repeat(100)}\nConnection: close`), [200])
  t.equal(h.reg.requests.length, upstream, 'none of it reached the upstream')
  await h.assertClean(t)
})

t.test('framing: bodies on GET, smuggling attempts', async (t) => {
  const h = await startHarness(t, {})
  // A body on GET is read as a body, not as a second request.
  const smuggled = 'GET /token/default/http/127.0.0.1:1/x HTTP/1.1\r\nHost: a\r\n\r\n'
  const statuses = await expectStatus(
    t,
    h,
    'GET with a body that looks like a request, then a real second request',
    Buffer.concat([req(`GET /healthz HTTP/1.1\nHost: a\nContent-Length: ${smuggled.length}`, smuggled), req('GET /healthz HTTP/1.1\nHost: a\nConnection: close')]),
    [200],
  )
  t.same(statuses, [200, 200], 'exactly two answers: the body was not taken for a request')
  const cases: Array<[string, Buffer]> = [
    ['CL + TE', req('POST /token/x HTTP/1.1\nHost: a\nContent-Length: 4\nTransfer-Encoding: chunked', '0\r\n\r\n')],
    ['TE: chunked, identity', req('POST /token/x HTTP/1.1\nHost: a\nTransfer-Encoding: chunked, identity', '0\r\n\r\n')],
    ['TE: xchunked', req('POST /token/x HTTP/1.1\nHost: a\nTransfer-Encoding: xchunked', '0\r\n\r\n')],
    ['two CL values', req('POST /token/x HTTP/1.1\nHost: a\nContent-Length: 4\nContent-Length: 5', 'abcde')],
    ['CL: 4, 5', req('POST /token/x HTTP/1.1\nHost: a\nContent-Length: 4, 5', 'abcde')],
    ['CL: -1', req('GET /v2/ HTTP/1.1\nHost: a\nContent-Length: -1')],
    ['CL: 1e3', req('GET /v2/ HTTP/1.1\nHost: a\nContent-Length: 1e3')],
    ['CL: huge', req('GET /v2/ HTTP/1.1\nHost: a\nContent-Length: 99999999999999999999999')],
    ['bad chunk size', req('POST /token/x HTTP/1.1\nHost: a\nTransfer-Encoding: chunked', 'zz\r\nabc\r\n0\r\n\r\n')],
    ['obs-fold', req('GET /v2/ HTTP/1.1\nHost: a\nX-A: b\n c')],
    ['NUL in a header', Buffer.from('GET /v2/ HTTP/1.1\r\nHost: a\r\nX-A: b\u0000c\r\n\r\n', 'latin1')],
    ['bare LF line endings', Buffer.from('GET /healthz HTTP/1.1\nHost: a\n\n')],
    ['space before colon', req('GET /v2/ HTTP/1.1\nHost : a')],
  ]
  for (const [label, data] of cases) await expectStatus(t, h, label, data, [400, 0])
  await h.assertClean(t)
})

t.test('malformed Range, cached and not', async (t) => {
  const h = await startHarness(t, { cache: true })
  const ranges = ['bytes=abc', 'bytes=5-3', 'bytes=-0', 'bytes=99999999999999999999-', 'bytes=0-0,5-6', 'items=0-5', 'bytes=1-2-3', 'bytes=--5', `bytes=${'9'.repeat(5000)}-`, 'bytes= 0 - 10 ', 'bytes=0-']
  for (const cached of [false, true]) {
    if (cached) {
      await h.get(h.blobPath)
      await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 2000)
    }
    for (const range of ranges) {
      const o = await h.get(h.blobPath, { headers: { range } })
      const label = `${cached ? 'hit' : 'miss'} Range: ${range.slice(0, 40)}`
      t.ok(o.status === 200 || o.status === 206 || o.status === 416, `${label} → ${o.status}`)
      if (o.status === 200 && o.complete) t.equal(sha256(o.body), h.digest, 'a 200 is the whole blob')
      if (o.status === 206 && o.complete) {
        const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(o.headers['content-range']))
        t.ok(m && o.body.equals(h.blob.subarray(Number(m[1]), Number(m[2]) + 1)), 'a 206 is the range it names')
      }
    }
  }
  await h.assertClean(t)
})
