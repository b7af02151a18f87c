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
    if (kind === 'blob, cached') t.equal(e.h.proxy.deps.cache?.lookup(e.h.digest), undefined, 'nothing entered the cache')
    await e.h.reg.restore()
    request(e, c)
    e.good(t, await c.read())
    c.destroy()
    await e.h.assertClean(t)
  })
}
