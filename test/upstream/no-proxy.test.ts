// Proxy settings from the environment and the no_proxy decision.

import t from 'tap'
import { proxyEnvFromProcess } from '../../lib/upstream/client.js'
import { bypassesProxy, proxyFor } from '../../lib/upstream/proxy-env.js'
import { startConnectProxy } from '../fixtures/connect-proxy.js'
import { client, httpServer, readAll } from './fixtures/helpers.js'

t.test('proxyEnvFromProcess: lowercase wins, uppercase is the fallback', async (t) => {
  const env = proxyEnvFromProcess({
    http_proxy: 'http://lower:3128',
    HTTP_PROXY: 'http://upper:3128',
    HTTPS_PROXY: 'proxy.corp:8080',
    NO_PROXY: 'a.com, .b.com ,,10.0.0.0/8',
    no_proxy: '',
  })
  t.equal(env.http?.href, 'http://lower:3128/')
  t.equal(env.https?.href, 'http://proxy.corp:8080/', 'a bare host:port means http://')
  t.same(env.noProxy, ['a.com', '.b.com', '10.0.0.0/8'], 'an empty lowercase value falls back')
})

t.test('proxyEnvFromProcess: nothing set', async (t) => {
  t.same(proxyEnvFromProcess({}), { noProxy: [] })
})

t.test('proxyEnvFromProcess: a value that is not a URL throws, naming the variable', async (t) => {
  t.throws(() => proxyEnvFromProcess({ https_proxy: 'http://[bad' }), /https_proxy/)
  t.throws(() => proxyEnvFromProcess({ HTTP_PROXY: 'socks5://p:1080' }), /http_proxy: only http:\/\//)
})

t.test('no_proxy matching', async (t) => {
  const cases: [string, number, string[], boolean][] = [
    ['registry.test', 443, ['*'], true],
    ['registry.test', 443, ['registry.test'], true],
    ['REGISTRY.test', 443, ['registry.TEST'], true],
    ['registry.test.', 443, ['registry.test'], true],
    ['cdn.registry.test', 443, ['registry.test'], true],
    ['xregistry.test', 443, ['registry.test'], false],
    ['registry.test', 443, ['.registry.test'], false],
    ['cdn.registry.test', 443, ['.registry.test'], true],
    ['cdn.registry.test', 443, ['*.registry.test'], true],
    ['registry.test', 443, ['registry.test:5000'], false],
    ['registry.test', 5000, ['registry.test:5000'], true],
    ['10.1.2.3', 80, ['10.0.0.0/8'], true],
    ['11.1.2.3', 80, ['10.0.0.0/8'], false],
    ['registry.test', 80, ['10.0.0.0/8'], false],
    ['127.0.0.1', 80, ['127.0.0.1'], true],
    ['127.0.0.1', 80, ['127.0.0.2'], false],
    ['::1', 80, ['::1'], true],
    ['::1', 80, ['[::1]:80'], true],
    ['::1', 81, ['[::1]:80'], false],
    ['fd00::5', 80, ['fd00::/8'], true],
    ['localhost', 80, [], false],
    ['localhost', 80, ['example.com', 'localhost'], true],
  ]
  for (const [host, port, list, want] of cases) {
    t.equal(bypassesProxy(host, port, list), want, `${host}:${port} vs ${list.join(',') || '(empty)'}`)
  }
})

t.test('proxyFor picks the scheme’s proxy unless no_proxy matches', async (t) => {
  const env = { http: new URL('http://p:1'), https: new URL('http://p:2'), noProxy: ['internal.test'] }
  t.equal(proxyFor(new URL('http://registry.test/'), env)?.port, '1')
  t.equal(proxyFor(new URL('https://registry.test/'), env)?.port, '2')
  t.equal(proxyFor(new URL('https://a.internal.test/'), env), null)
  t.equal(proxyFor(new URL('https://[::1]:443/'), { ...env, noProxy: ['[::1]:443'] }), null)
  t.equal(proxyFor(new URL('https://registry.test/'), undefined), null)
})

t.test('a no_proxy host goes direct, others through the proxy', async (t) => {
  const up = await httpServer(t, (_req, res) => res.end('hi'))
  const proxy = await startConnectProxy()
  t.teardown(() => proxy.close())
  const c = client(t, { proxy: { http: new URL(proxy.url), noProxy: [`localhost:${up.port}`] } })
  const direct = await c.request({ method: 'GET', url: new URL(`http://localhost:${up.port}/`), headers: {} })
  t.equal((await readAll(direct.body)).toString(), 'hi')
  t.same(proxy.forwards, [])
  const proxied = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(proxied.body)).toString(), 'hi')
  t.same(proxy.forwards, [up.url.href])
})
