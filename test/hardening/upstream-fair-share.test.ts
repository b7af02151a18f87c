// Upstream sockets are shared fairly (no cache, so every pull holds one for
// as long as its client takes to read). One client address holds at most
// half of an origin's sockets (--upstream-sockets-per-client): slow readers
// from one address cannot make another client's manifest request wait on
// them. And a request never waits for a socket longer than
// --upstream-queue-timeout: then it is answered 503 UNAVAILABLE with
// Retry-After, not left hanging.
import t from 'tap'
import { startHarness } from './fixtures/harness.js'
import { rawRequest } from './fixtures/raw-http.js'
import { slowReader, type SlowReader } from './fixtures/slow-reader.js'
import { waitFor } from '../fixtures/wait.js'

const SIZE = 32 * 1024 * 1024
/** Slow, not stalled: the stall timeout must not be what frees a socket. */
const RATE = 32 * 1024

function manifestRequest(port: number, repo: string, localAddress: string) {
  return rawRequest(port, `GET /v2/${repo}/manifests/v1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`, { localAddress, timeoutMs: 15_000 })
}

t.test('slow readers from one address leave sockets for others', async (t) => {
  const h = await startHarness(t, {
    blobSize: SIZE,
    // Blobs from the registry itself: the same origin as manifests.
    registry: { cdn: false },
    proxy: { client: { connectTimeout: 1000, headerTimeout: 2000, idleTimeout: 30_000, maxSocketsPerOrigin: 4, queueTimeout: 2000 } },
  })
  h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2 })
  const before = h.reg.count('registry', 'GET', /\/blobs\//)
  const readers: SlowReader[] = Array.from({ length: 4 }, () => slowReader(h.proxy.url, h.blobPath, RATE, {}, { localAddress: '127.0.0.1' }))
  t.teardown(() => readers.forEach((r) => r.destroy()))
  await waitFor(() => h.reg.count('registry', 'GET', /\/blobs\//) - before, (n) => n >= 2, 5000)
  await new Promise((r) => setTimeout(r, 300))
  t.equal(h.reg.count('registry', 'GET', /\/blobs\//) - before, 2, 'the slow address holds half of the 4 sockets; its other requests wait')

  const other = await manifestRequest(h.proxy.port, h.repo, '127.0.0.2')
  // Not a 503 at the queue deadline, and not a hang: a socket of its own.
  t.equal(other.status, 200, `another address gets its manifest (${other.ms} ms)`)

  const refused = await waitFor(() => readers.filter((r) => r.status === 503).length, (n) => n >= 2, 8000)
  t.equal(refused, 2, 'the slow address’s waiting requests are answered 503 at the queue deadline')
  for (const r of readers) r.destroy()
  await h.assertClean(t)
})

t.test('a request waits for a socket no longer than the queue deadline', async (t) => {
  const h = await startHarness(t, {
    blobSize: SIZE,
    registry: { cdn: false },
    proxy: { client: { connectTimeout: 1000, headerTimeout: 2000, idleTimeout: 30_000, maxSocketsPerOrigin: 2, queueTimeout: 1000 } },
  })
  h.reg.addManifest(h.repo, 'v1', { schemaVersion: 2 })
  const before = h.reg.count('registry', 'GET', /\/blobs\//)
  // Two addresses, one socket each: every socket of the origin is busy.
  const readers = ['127.0.0.1', '127.0.0.2'].map((a) => slowReader(h.proxy.url, h.blobPath, RATE, {}, { localAddress: a }))
  t.teardown(() => readers.forEach((r) => r.destroy()))
  await waitFor(() => h.reg.count('registry', 'GET', /\/blobs\//) - before, (n) => n >= 2, 5000)

  const o = await manifestRequest(h.proxy.port, h.repo, '127.0.0.3')
  t.equal(o.status, 503, 'a third address is answered 503')
  t.ok(o.ms >= 900 && o.ms < 5000, `once it waited the deadline (${o.ms} ms)`)
  const text = o.raw.toString('latin1')
  t.match(text, /\r\nretry-after: 1\r\n/i, 'with Retry-After')
  t.match(text, /"code":"UNAVAILABLE"/, 'and a registry error body')
  t.ok(readers.every((r) => r.received > 0 && r.status === 200), 'the slow readers are still being served')

  for (const r of readers) r.destroy()
  await h.assertClean(t)
  await h.assertRecovers(t)
})
