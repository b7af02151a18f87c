// An upstream that is down or hangs gives a fast registry error (502/504), so
// containerd can fall back to the next host; the proxy stays healthy.
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { startFakeHub } from '../fixtures/fake-hub.js'
import { PullClient, request, startTestProxy } from '../fixtures/proxy.js'
import { freePort as closedPort } from '../fixtures/real/proc.js'

t.test('upstream refusing connections → 502 BAD_GATEWAY', async (t) => {
  const proxy = await startTestProxy(t, { registryMap: { default: `http://127.0.0.1:${await closedPort()}` } })
  const res = await request(proxy.url, '/v2/library/alpine/manifests/latest')
  t.equal(res.status, 502)
  t.equal(res.headers['content-type'], 'application/json')
  t.match(JSON.parse(res.body.toString()), { errors: [{ code: 'BAD_GATEWAY', message: /upstream/ }] })
  t.equal((await request(proxy.url, '/healthz')).status, 200, 'still healthy')
})

t.test('upstream accepting but never answering → 504 within the header timeout', async (t) => {
  const sockets = new Set<net.Socket>()
  const hang = net.createServer((s) => {
    sockets.add(s)
    s.on('error', () => {})
  })
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    return new Promise((r) => hang.close(r))
  })
  const proxy = await startTestProxy(t, {
    registryMap: { default: `http://127.0.0.1:${(hang.address() as AddressInfo).port}` },
    client: { headerTimeout: 300 },
  })
  const started = Date.now()
  const res = await request(proxy.url, '/v2/')
  const took = Date.now() - started
  t.equal(res.status, 504)
  t.match(JSON.parse(res.body.toString()), { errors: [{ code: 'GATEWAY_TIMEOUT' }] })
  t.ok(took < 3000, `failed fast (${took} ms), not a hang`)
})

t.test('upstream errors pass through unchanged, Retry-After kept', async (t) => {
  const hub = await startFakeHub()
  t.teardown(() => hub.close())
  const proxy = await startTestProxy(t, { registryMap: { default: hub.registryUrl }, redirectAllow: hub.redirectAllow })
  hub.faults.registryStatus = 429
  const c = new PullClient(proxy.url)
  const res = await c.get('/v2/library/alpine/manifests/3.19')
  t.equal(res.status, 429)
  t.equal(res.headers['retry-after'], '7')
  t.match(JSON.parse(res.body.toString()), { errors: [{ code: 'TOOMANYREQUESTS' }] })
})

t.test('redirect loops and redirects to other schemes → 502', async (t) => {
  const http = await import('node:http')
  let hops = 0
  const up = http.createServer((req, res) => {
    hops++
    if (req.url!.includes('file')) res.writeHead(307, { location: 'file:///etc/passwd' })
    else if (req.url!.includes('garbage')) res.writeHead(307, { location: 'http://[::1' })
    else res.writeHead(302, { location: req.url + 'x' })
    res.end()
  })
  await new Promise<void>((r) => up.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise((r) => up.close(r)))
  const proxy = await startTestProxy(t, { registryMap: { default: `http://127.0.0.1:${(up.address() as AddressInfo).port}` } })
  const hex = 'c'.repeat(64)
  const loop = await request(proxy.url, `/v2/a/blobs/sha256:${hex}`)
  t.equal(loop.status, 502)
  t.equal(hops, 11, 'gave up after 10 redirects')
  t.match(JSON.parse(loop.body.toString()), { errors: [{ code: 'BAD_GATEWAY', message: /redirect/ }] })
  const file = await request(proxy.url, `/v2/file/blobs/sha256:${hex}`)
  t.equal(file.status, 502)
  const garbage = await request(proxy.url, `/v2/garbage/blobs/sha256:${hex}`)
  t.equal(garbage.status, 502)
})
