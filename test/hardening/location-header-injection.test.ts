// A Location (or any upstream header) carrying CR/LF, NUL or encoded line
// breaks cannot inject a header into the request the proxy sends next, nor
// into the response the client gets: the next hop's request head has only
// the headers the proxy wrote, and the client's response has only allowed
// headers. A header block the parser rejects is a 502.
import t from 'tap'
import { checkOutcome, startHarness } from './fixtures/harness.js'

t.test('encoded and raw line breaks in Location', async (t) => {
  const h = await startHarness(t, { cache: true })
  const cdn = `http://127.0.0.1:${h.reg.ports.cdn}`
  const locations = (hex: string) => [
    `${cdn}/blobs/${hex}?a=%0d%0aX-Injected:%201`,
    `${cdn}/blobs/${hex}%0d%0aX-Injected:%201`,
    `${cdn}/blobs/${hex}?a=\tX-Injected: 1`,
    `${cdn}/blobs/${hex}?a=\x00b`,
    `${cdn}/blobs/${hex}?a=\rX-Injected: 1`,
    `${cdn}/blobs/${hex}?a=\nX-Injected: 1`,
    `${cdn}/blobs/${hex}?\u00ffé`,
  ]
  // A fresh blob per value: a cached one would never go upstream again, and
  // the values after it would test nothing.
  for (let i = 0; i < locations('').length; i++) {
    const blob = h.addBlob(64 * 1024)
    const location = locations(blob.digest.slice(7))[i]!
    h.reg.clearFaults()
    h.reg.fault('registry', { kind: 'redirect', location }, { path: /blobs/, times: 1 })
    const before = h.reg.requests.length
    const o = await h.get(blob.path)
    checkOutcome(t, o, blob.digest, JSON.stringify(location))
    t.ok(o.status === 200 || o.status === 502 || o.status === 404, `status ${o.status}`)
    t.equal(o.headers['x-injected'], undefined, 'no injected response header')
    const sent = h.reg.requests.slice(before)
    t.ok(sent.some((r) => r.role === 'registry'), `${JSON.stringify(location)}: the request went upstream and met the redirect`)
    for (const r of sent) {
      t.notOk(/^x-injected/im.test(r.raw), `no injected line in the ${r.role} request head`)
      t.notOk(/[\0]/.test(r.raw), 'no NUL in the request head')
    }
  }
  await h.assertClean(t)
})

t.test('hostile response headers never reach the client', async (t) => {
  const h = await startHarness(t, {})
  h.reg.fault('cdn', {
    kind: 'headers',
    lines: ['Set-Cookie: session=stolen', 'X-Injected: 1', 'Location: http://evil.example/', 'Access-Control-Allow-Origin: *', 'Refresh: 0; url=http://evil.example/'],
  })
  const o = await h.get(h.blobPath)
  checkOutcome(t, o, h.digest, 'hostile headers')
  for (const name of ['set-cookie', 'x-injected', 'location', 'access-control-allow-origin', 'refresh']) {
    t.equal(o.headers[name], undefined, `${name} dropped`)
  }
  await h.assertClean(t)
})
