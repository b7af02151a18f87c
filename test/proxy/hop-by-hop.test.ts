// Hop-by-hop headers (RFC 9110 §7.6.1) are stripped both ways, and so is
// anything a CDN or upstream should not set on our clients.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { request, startTestProxy } from '../fixtures/proxy.js'

t.test('hop-by-hop headers stripped in both directions', async (t) => {
  let seen: http.IncomingHttpHeaders = {}
  const up = http.createServer((req, res) => {
    seen = req.headers
    res.writeHead(200, {
      'content-type': 'application/json',
      'docker-distribution-api-version': 'registry/2.0',
      connection: 'x-upstream-secret',
      'x-upstream-secret': 'leak',
      'keep-alive': 'timeout=5',
      'set-cookie': 'session=1',
      'proxy-authenticate': 'Basic',
      upgrade: 'h2c',
      trailer: 'x-t',
    })
    res.end('{}')
  })
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    up.closeAllConnections()
    return new Promise((r) => up.close(r))
  })
  const proxy = await startTestProxy(t, { registryMap: { default: `http://127.0.0.1:${(up.address() as AddressInfo).port}` } })
  const res = await request(proxy.url, '/v2/', {
    headers: {
      connection: 'x-client-secret, keep-alive',
      'x-client-secret': 'leak',
      'proxy-authorization': 'Basic c2VjcmV0',
      te: 'trailers',
      'accept-encoding': 'gzip, zstd',
      accept: 'application/json',
      'x-forwarded-for': '10.0.0.1',
    },
  })
  t.equal(res.status, 200)
  t.equal(res.body.toString(), '{}')
  t.not(res.headers['keep-alive'], 'timeout=5', "the upstream's Keep-Alive is not relayed (our own may be set)")
  for (const h of ['x-upstream-secret', 'set-cookie', 'proxy-authenticate', 'upgrade', 'trailer']) {
    t.notOk(res.headers[h], `response has no ${h}`)
  }
  t.equal(res.headers['docker-distribution-api-version'], 'registry/2.0')
  for (const h of ['x-client-secret', 'proxy-authorization', 'te', 'accept-encoding', 'x-forwarded-for']) {
    t.notOk(seen[h], `upstream saw no ${h}`)
  }
  t.equal(seen['accept'], 'application/json', 'Accept forwarded')
})
