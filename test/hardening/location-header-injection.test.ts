// A Location (or any upstream header) carrying CR/LF, NUL or encoded line
// breaks cannot inject a header into the request the proxy sends next, nor
// into the response the client gets: the next hop's request head has only
// the headers the proxy wrote, and the client's response has only allowed
// headers. A header block the parser rejects is a 502.
import t from 'tap'
import { checkOutcome, startHarness } from './fixtures/harness.js'

t.test('encoded and raw line breaks in Location', async (t) => {
  const h = await startHarness(t, { cache: true })
  const hex = h.digest.slice(7)
  const cdn = `http://127.0.0.1:${h.reg.ports.cdn}`
  const locations = [
    `${cdn}/blobs/${hex}?a=%0d%0aX-Injected:%201`,
    `${cdn}/blobs/${hex}%0d%0aX-Injected:%201`,
    `${cdn}/blobs/${hex}?a=\tX-Injected: 1`,
    `${cdn}/blobs/${hex}?a=\x00b`,
    `${cdn}/blobs/${hex}?a=\rX-Injected: 1`,
    `${cdn}/blobs/${hex}?a=\nX-Injected: 1`,
    `${cdn}/blobs/${hex}?\u00ffé`,
  ]
  for (const location of locations) {
    h.reg.clearFaults()
    h.reg.fault('registry', { kind: 'redirect', location }, { path: /blobs/, times: 1 })
    const before = h.reg.requests.length
    const o = await h.get(h.blobPath, { headers: { 'cache-control': 'no-cache' } })
    checkOutcome(t, o, h.digest, JSON.stringify(location))
    t.ok(o.status === 200 || o.status === 502 || o.status === 404, `status ${o.status}`)
    t.equal(o.headers['x-injected'], undefined, 'no injected response header')
    for (const r of h.reg.requests.slice(before)) {
      t.notOk(/^x-injected/im.test(r.raw), `no injected line in the ${r.role} request head`)
      t.notOk(/[\0]/.test(r.raw), 'no NUL in the request head')
    }
    if (h.proxy.deps.cache?.cached(h.digest)) break // cached: later requests never go upstream
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
