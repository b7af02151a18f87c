// An upstream header that Node's http server would refuse to write (a
// control character, CR or NUL in a value, a name that is not a token)
// used to make writeHead throw halfway: `HTTP/1.1 500 OK` still carrying the
// upstream's Docker-Content-Digest. Such a response is now the clean 502
// registry error, none of its headers reach the client, and the client's
// connection stays in step. Header bytes above 0x7f (obs-text) are not
// control characters: they pass, unchanged.
import t from 'tap'
import { connect, dropIdle, endpoint, ENDPOINTS, expectBadGateway, request } from './fixtures/hostile-response.js'

const invalid: Array<[string, (lines: string[]) => string[]]> = [
  ['\\x01 in Content-Type', (l) => l.map((h) => (h.startsWith('Content-Type:') ? `${h}\x01` : h))],
  ['NUL in an ETag', (l) => [...l, 'ETag: "a\x00b"']],
  ['DEL in Retry-After', (l) => [...l, 'Retry-After: 1\x7f']],
  ['a bare CR in an ETag', (l) => [...l, 'ETag: "a\rb"']],
  ['ESC in a header the proxy never forwards', (l) => [...l, 'X-Cdn-Pop: a\x1bb']],
  ['a control character in a header name', (l) => [...l, 'X-A\x01: b']],
  ['a header name that is not a token', (l) => [...l, 'X(a): b']],
]

for (const kind of ENDPOINTS) {
  t.test(`invalid upstream header → clean 502, no upstream header leaks (${kind})`, async (t) => {
    const e = await endpoint(t, kind)
    const c = await connect(e)
    t.teardown(() => c.destroy())
    for (const [label, edit] of invalid) {
      await dropIdle(e)
      const lines = [...edit(e.lines), `Content-Length: ${e.body.length}`]
      e.h.reg.fault(e.role, { kind: 'raw', lines, body: e.body }, { path: e.faultPath, times: 1 })
      request(e, c)
      await expectBadGateway(t, e, c, label)
    }
    if (kind === 'blob, cached') t.equal(e.h.proxy.deps.cache?.cached(e.h.digest), undefined, 'nothing entered the cache')

    // obs-text is not a control character: it passes, byte for byte.
    await dropIdle(e)
    const lines = [...e.lines, 'ETag: "caf\xe9"', 'X-Note: \xfc\x80', `Content-Length: ${e.body.length}`]
    e.h.reg.fault(e.role, { kind: 'raw', lines, body: e.body }, { path: e.faultPath, times: 1 })
    request(e, c)
    const r = await c.read()
    e.good(t, r)
    if (kind !== 'token') t.same(r.headers['etag'], ['"caf\xe9"'], 'an obs-text ETag passes unchanged')

    await e.h.reg.restore()
    request(e, c)
    e.good(t, await c.read())
    c.destroy()
    await e.h.assertClean(t)
  })
}
