// An upstream response whose framing is ambiguous (RFC 9112 §6.3): both
// Transfer-Encoding and Content-Length (a request-smuggling and
// response-splitting signal), two Content-Lengths, a Content-Length that is
// not a plain number, a transfer coding other than chunked. Each is refused
// as the 502 registry error, the upstream socket is closed, and the client's
// connection stays in step: the error ends where its framing says and the
// next request on it is answered correctly. Blobs (with and without a
// cache), manifests (with and without) and the token relay.
import t from 'tap'
import { chunked, connect, dropIdle, endpoint, ENDPOINTS, expectBadGateway, request } from './fixtures/hostile-response.js'
import { waitFor } from '../fixtures/wait.js'

const framings = (body: Buffer): Array<[string, string[], Buffer]> => {
  const n = String(body.length)
  return [
    ['Content-Length: 1 and a chunked body', ['Content-Length: 1', 'Transfer-Encoding: chunked'], chunked(body)],
    ['Transfer-Encoding: chunked, then the right Content-Length', ['Transfer-Encoding: chunked', `Content-Length: ${n}`], chunked(body)],
    ['two different Content-Lengths', ['Content-Length: 1', `Content-Length: ${n}`], body],
    ['the same Content-Length twice', [`Content-Length: ${n}`, `Content-Length: ${n}`], body],
    ['a Content-Length list', [`Content-Length: ${n}, ${n}`], body],
    ['Content-Length with a sign', [`Content-Length: +${n}`], body],
    ['Content-Length in hex', [`Content-Length: 0x${body.length.toString(16)}`], body],
    ['Content-Length not a number', ['Content-Length: abc'], body],
    ['Content-Length beyond 2^53', ['Content-Length: 99999999999999999999'], body],
    ['Transfer-Encoding: gzip, chunked', ['Transfer-Encoding: gzip, chunked'], chunked(body)],
    ['Transfer-Encoding twice', ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], chunked(body)],
  ]
}

for (const kind of ENDPOINTS) {
  t.test(`conflicting upstream framing → 502, client connection in step (${kind})`, async (t) => {
    const e = await endpoint(t, kind)
    const c = await connect(e)
    t.teardown(() => c.destroy())
    for (const [label, lines, body] of framings(e.body)) {
      await dropIdle(e)
      e.h.reg.fault(e.role, { kind: 'raw', lines: [...e.lines, ...lines], body }, { path: e.faultPath, times: 1 })
      request(e, c)
      await expectBadGateway(t, e, c, label)
    }
    if (kind === 'blob, cached') t.equal(e.h.proxy.deps.cache?.cached(e.h.digest), undefined, 'nothing entered the cache')
    await e.h.reg.restore()
    request(e, c)
    e.good(t, await c.read())
    c.destroy()
    await e.h.assertClean(t)
  })
}

// The Content-Length a client gets is stated by the proxy from what it
// parsed: none on a 204 or 304 (whatever the upstream said, and whatever
// bytes it sent after them), the upstream's on a HEAD, which has no body.
t.test('no Content-Length on 204 or 304, the announced one on HEAD; the connection stays in step', async (t) => {
  const e = await endpoint(t, 'manifest')
  const c = await connect(e)
  t.teardown(() => c.destroy())
  for (const status of [204, 304]) {
    await dropIdle(e)
    const lines = [...e.lines, 'Content-Length: 10', 'ETag: "x"']
    e.h.reg.fault(e.role, { kind: 'raw', status, lines, body: 'HTTP/1.1 ' }, { path: e.faultPath, times: 1 })
    request(e, c)
    const r = await c.read()
    t.equal(r.status, status, `${status} passed on`)
    t.equal(r.headers['content-length'], undefined, `${status}: no Content-Length`)
    await new Promise((resolve) => setTimeout(resolve, 50))
    t.equal(c.surplus().length, 0, `${status}: nothing after it, the bytes the upstream sent after it least of all`)
    const open = await waitFor(() => e.h.reg.openSockets(e.role), (n) => n === 0, 3000)
    t.equal(open, 0, `${status}: the upstream socket with bytes after a bodiless response is not reused`)
  }
  c.send('HEAD', e.path, `127.0.0.1:${e.h.proxy.port}`)
  const head = await c.read({ head: true })
  t.equal(head.status, 200)
  t.same(head.headers['content-length'], [String(e.body.length)], 'HEAD: the length a GET gets')
  request(e, c)
  e.good(t, await c.read())
  c.destroy()
  await e.h.assertClean(t)
})
