// Plain http through an http proxy: absolute-form request line (RFC 9112
// §3.2.2) with Proxy-Authorization from the proxy URL.

import t from 'tap'
import { startConnectProxy } from '../fixtures/connect-proxy.js'
import { client, httpServer, onRequestHeads, rawServer, readAll } from './fixtures/helpers.js'

t.test('forwarded with the absolute URI; the proxy connection is reused', async (t) => {
  const up = await httpServer(t, (req, res) => res.end(`${req.url} ${req.headers.host}`))
  const proxy = await startConnectProxy()
  t.teardown(() => proxy.close())
  const c = client(t, { proxy: { http: new URL(proxy.url), noProxy: [] } })
  for (const path of ['/v2/', '/v2/lib/x/manifests/latest?a=b']) {
    const res = await c.request({ method: 'GET', url: new URL(path, up.url), headers: {} })
    t.equal((await readAll(res.body)).toString(), `${path} 127.0.0.1:${up.port}`)
  }
  t.same(proxy.forwards, [`http://127.0.0.1:${up.port}/v2/`, `http://127.0.0.1:${up.port}/v2/lib/x/manifests/latest?a=b`])
  t.same(proxy.connects, [])
  t.equal(c.stats().open, 1)
})

t.test('the request head sent to the proxy', async (t) => {
  const heads: string[] = []
  const fake = await rawServer(t, (s) =>
    onRequestHeads(s, (head) => {
      heads.push(head)
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    }),
  )
  const proxyUrl = new URL(fake.url)
  proxyUrl.username = 'alice'
  proxyUrl.password = 's%3Acret'
  const c = client(t, { proxy: { http: proxyUrl, noProxy: [] } })
  await readAll((await c.request({ method: 'GET', url: new URL('http://registry.test/v2/?q=1#frag'), headers: { accept: '*/*' } })).body)
  await readAll((await c.request({ method: 'GET', url: new URL('http://registry.test:8080/v2/'), headers: {} })).body)
  const auth = `Proxy-Authorization: Basic ${Buffer.from('alice:s:cret').toString('base64')}`
  t.same(heads[0]?.split('\r\n'), [
    'GET http://registry.test/v2/?q=1 HTTP/1.1',
    'Host: registry.test',
    'accept: */*',
    auth,
    'Connection: keep-alive',
  ])
  t.same(heads[1]?.split('\r\n').slice(0, 2), ['GET http://registry.test:8080/v2/ HTTP/1.1', 'Host: registry.test:8080'])
})

t.test('proxy requiring auth: 407 is passed through as a response', async (t) => {
  const up = await httpServer(t, (_req, res) => res.end('ok'))
  const proxy = await startConnectProxy({ auth: 'u:p' })
  t.teardown(() => proxy.close())
  const bare = client(t, { proxy: { http: new URL(`http://127.0.0.1:${proxy.port}`), noProxy: [] } })
  const refused = await bare.request({ method: 'GET', url: up.url, headers: {} })
  t.equal(refused.status, 407)
  await readAll(refused.body)
  const authed = client(t, { proxy: { http: new URL(proxy.url), noProxy: [] } })
  const res = await authed.request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(res.body)).toString(), 'ok')
})

t.test('an http_proxy setting does not apply to https, nor https_proxy to http', async (t) => {
  const up = await httpServer(t, (_req, res) => res.end('direct'))
  const proxy = await startConnectProxy()
  t.teardown(() => proxy.close())
  const c = client(t, { proxy: { https: new URL(proxy.url), noProxy: [] } })
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(res.body)).toString(), 'direct')
  t.same(proxy.forwards, [])
})
