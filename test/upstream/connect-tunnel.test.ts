// https through an http proxy: CONNECT, then TLS with the origin's name
// inside the tunnel; the proxy never sees the request itself.

import t from 'tap'
import { randomBytes } from 'node:crypto'
import { UpstreamError } from '../../lib/errors.js'
import { startConnectProxy } from '../fixtures/connect-proxy.js'
import { selfSigned } from '../fixtures/certs.js'
import { client, httpsServer, rawServer, readAll, readError, sleep } from './fixtures/helpers.js'
import type { TLSSocket } from 'node:tls'

const cert = selfSigned(t.testdir())
const body = randomBytes(2 * 1024 * 1024)

t.test('CONNECT tunnel: TLS to the origin inside, body byte-exact, tunnel reused', async (t) => {
  const names: (string | false)[] = []
  const up = await httpsServer(t, cert, (req, res) => {
    names.push((req.socket as TLSSocket & { servername: string | false }).servername)
    res.end(req.url === '/big' ? body : req.url)
  })
  const proxy = await startConnectProxy()
  t.teardown(() => proxy.close())
  const c = client(t, { tls: { ca: cert.cert }, proxy: { https: new URL(proxy.url), noProxy: [] } })
  const big = await c.request({ method: 'GET', url: new URL(`https://localhost:${up.port}/big`), headers: {} })
  t.ok((await readAll(big.body)).equals(body))
  const small = await c.request({ method: 'GET', url: new URL(`https://localhost:${up.port}/x?y=1`), headers: {} })
  t.equal((await readAll(small.body)).toString(), '/x?y=1', 'origin-form inside the tunnel')
  t.same(proxy.connects, [`localhost:${up.port}`])
  t.same(proxy.forwards, [])
  t.equal(up.connections, 1)
  t.same(names, ['localhost', 'localhost'])
})

t.test('CONNECT with credentials from the proxy URL', async (t) => {
  const up = await httpsServer(t, cert, (_req, res) => res.end('ok'))
  const proxy = await startConnectProxy({ auth: 'us er:p@ss' })
  t.teardown(() => proxy.close())
  const c = client(t, { tls: { ca: cert.cert }, proxy: { https: new URL(proxy.url), noProxy: [] } })
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  t.equal((await readAll(res.body)).toString(), 'ok')
  t.same(proxy.authorizations, [`Basic ${Buffer.from('us er:p@ss').toString('base64')}`])
})

t.test('proxy refuses CONNECT (407) → proxy', async (t) => {
  const up = await httpsServer(t, cert, (_req, res) => res.end('ok'))
  const proxy = await startConnectProxy({ auth: 'user:pass' })
  t.teardown(() => proxy.close())
  const c = client(t, { tls: { ca: cert.cert }, proxy: { https: new URL(`http://127.0.0.1:${proxy.port}`), noProxy: [] } })
  const err = await c.request({ method: 'GET', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.type(err, UpstreamError)
  t.equal((err as UpstreamError).kind, 'proxy')
  t.match((err as Error).message, /407/)
  t.equal(proxy.rejected, 1)
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
})

t.test('proxy not listening → proxy', async (t) => {
  const proxy = await startConnectProxy()
  await proxy.close()
  const c = client(t, { proxy: { https: new URL(proxy.url), noProxy: [] } })
  const err = await c.request({ method: 'GET', url: new URL('https://example.test/'), headers: {} }).catch((e: unknown) => e)
  t.equal((err as UpstreamError).kind, 'proxy')
})

t.test('proxy hangs up during CONNECT → proxy', async (t) => {
  const fake = await rawServer(t, (s) => s.once('data', () => s.end()))
  const c = client(t, { proxy: { https: fake.url, noProxy: [] } })
  const err = await c.request({ method: 'GET', url: new URL('https://example.test/'), headers: {} }).catch((e: unknown) => e)
  t.equal((err as UpstreamError).kind, 'proxy')
})

t.test('a TLS failure inside the tunnel → tls', async (t) => {
  const up = await httpsServer(t, cert, (_req, res) => res.end('ok'))
  const proxy = await startConnectProxy()
  t.teardown(() => proxy.close())
  const c = client(t, { proxy: { https: new URL(proxy.url), noProxy: [] } })
  const err = await c.request({ method: 'GET', url: up.url, headers: {} }).catch((e: unknown) => e)
  t.equal((err as UpstreamError).kind, 'tls')
})

t.test('connect timeout covers a proxy that never answers CONNECT', async (t) => {
  const fake = await rawServer(t, () => {})
  const c = client(t, { connectTimeout: 150, proxy: { https: fake.url, noProxy: [] } })
  const err = await c.request({ method: 'GET', url: new URL('https://example.test/'), headers: {} }).catch((e: unknown) => e)
  t.equal((err as UpstreamError).kind, 'timeout')
})

t.test('the proxy dropping the tunnel mid-body errors the body with reset', async (t) => {
  const up = await httpsServer(t, cert, (_req, res) => {
    res.writeHead(200, { 'content-length': String(body.length * 4) })
    res.write(body)
  })
  const proxy = await startConnectProxy()
  const c = client(t, { tls: { ca: cert.cert }, proxy: { https: new URL(proxy.url), noProxy: [] } })
  const res = await c.request({ method: 'GET', url: up.url, headers: {} })
  const failed = readError(res.body)
  await sleep(50)
  await proxy.close()
  const err = await failed
  t.type(err, UpstreamError)
  t.equal((err as UpstreamError).kind, 'reset')
  t.same(c.stats(), { open: 0, idle: 0, queued: 0 })
})
