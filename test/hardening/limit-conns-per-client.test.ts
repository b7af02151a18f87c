// --max-conns-per-client: a client address holding the maximum number of
// connections gets 429 TOOMANYREQUESTS with Retry-After on a further one
// (which is then closed); other addresses are unaffected; once it closes
// some, it is served again. X-Forwarded-For does not change whose
// connection it is.
import net from 'node:net'
import t from 'tap'
import { isRegistryError, startHarness } from './fixtures/harness.js'
import { rawRequest } from './fixtures/raw-http.js'

function hold(port: number, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) }, () => resolve(s))
    s.on('error', reject)
  })
}

t.test('per-address connection limit', async (t) => {
  const h = await startHarness(t, { proxy: { maxConnsPerClient: 4 } })
  const port = h.proxy.port
  const held = await Promise.all([hold(port), hold(port), hold(port), hold(port)])
  await new Promise((r) => setTimeout(r, 50))
  const o = await h.get('/v2/', { headers: { 'x-forwarded-for': '203.0.113.7' } })
  t.equal(o.status, 429, 'the fifth connection is refused')
  t.ok(isRegistryError(o) && /TOOMANYREQUESTS/.test(o.body.toString()), 'TOOMANYREQUESTS')
  t.equal(o.headers['retry-after'], '1', 'with Retry-After')
  t.equal(o.headers['connection'], 'close', 'and the connection is closed')

  const raw = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n')
  t.same(raw.statuses, [429], 'one 429, then the connection closes (no second answer)')
  t.ok(raw.closed)

  const other = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', { localAddress: '127.0.0.2' }).catch(() => null)
  if (other && other.status !== null) t.equal(other.status, 200, 'another address is served')

  held[0]!.destroy()
  held[1]!.destroy()
  await new Promise((r) => setTimeout(r, 50))
  t.equal((await h.get(h.blobPath)).status, 200, 'served again once under the limit')
  for (const s of held) s.destroy()
  await h.assertClean(t)
})

t.test('0 means unbounded', async (t) => {
  const h = await startHarness(t, { proxy: { maxConnsPerClient: 0 } })
  const held = await Promise.all(Array.from({ length: 300 }, () => hold(h.proxy.port)))
  t.equal((await h.get('/healthz')).status, 200)
  for (const s of held) s.destroy()
  await h.assertClean(t)
})
