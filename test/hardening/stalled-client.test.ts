// A client that stops reading altogether is disconnected after the stall
// timeout, and the upstream request behind it is released: its socket
// closed (uncached), its file closed (hit), or its fill carried on to the
// commit (cache fill). Nothing stays held.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import tls from 'node:tls'
import t from 'tap'
import type { Test } from 'tap'
import { startHarness, type Harness } from './fixtures/harness.js'
import { selfSigned } from '../fixtures/certs.js'
import { hasCommand } from '../ops/fixtures/helpers.js'
import { startTestProxy } from '../fixtures/proxy.js'
import { startFaultRegistry } from './fixtures/fault-registry.js'
import { slowReader } from './fixtures/slow-reader.js'
import { waitFor } from '../fixtures/wait.js'

const SIZE = 32 * 1024 * 1024
const proxy = { clientStallTimeout: 800 }

/**
 * Reads nothing, and waits until the proxy dropped the connection (the
 * client cannot tell: its receive buffer is full and it does not read).
 */
async function stall(t: Test, h: Harness): Promise<number> {
  const started = Date.now()
  const r = slowReader(h.proxy.url, h.blobPath, 0)
  const connections = () => new Promise<number>((resolve) => h.proxy.server.getConnections((_, n) => resolve(n)))
  // The response started (bytes are flowing into the buffers), then stopped.
  while ((await connections()) === 0 && Date.now() - started < 3000) await sleep(5)
  let open = await connections()
  while (open > 0 && Date.now() - started < 10_000) {
    await sleep(50)
    open = await connections()
  }
  const ms = Date.now() - started
  t.equal(open, 0, `the proxy dropped the stalled client ${ms} ms after its request`)
  r.destroy()
  return ms
}

t.test('uncached: the upstream socket is released', async (t) => {
  const h = await startHarness(t, { blobSize: SIZE, proxy })
  const ms = await stall(t, h)
  t.ok(ms < 4000, 'within a few stall timeouts')
  await waitFor(() => h.reg.openSockets('cdn'), (n) => n === 0, 3000)
  t.equal(h.reg.openSockets('cdn'), 0, 'the CDN socket was closed')
  await h.assertClean(t)
  await h.assertRecovers(t)
})

t.test('cache hit: the file is closed', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: SIZE, proxy })
  t.equal((await h.get(h.blobPath)).status, 200)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 3000)
  await stall(t, h)
  await h.assertClean(t)
})

t.test('cache fill: cut, the fill commits anyway', async (t) => {
  const h = await startHarness(t, { cache: true, blobSize: SIZE, proxy })
  await stall(t, h)
  await waitFor(() => h.proxy.deps.cache?.cached(h.digest), (v) => v !== undefined, 5000)
  t.ok(h.proxy.deps.cache?.cached(h.digest), 'committed')
  await h.assertClean(t)
})

t.test('over TLS too', { skip: !hasCommand('openssl') && 'openssl not installed' }, async (t) => {
  const reg = await startFaultRegistry()
  t.teardown(() => reg.close())
  const { certFile: cert, keyFile: key } = selfSigned(t.testdir(), 'stall')
  const proxy = await startTestProxy(t, {
    registryMap: { default: reg.registryUrl },
    redirectAllow: reg.redirectAllow,
    clientStallTimeout: 800,
    tls: { cert: readFileSync(cert), key: readFileSync(key) },
  })
  const digest = reg.addBlob(randomBytes(SIZE))
  const socket = tls.connect({ host: '127.0.0.1', port: proxy.port, rejectUnauthorized: false }, () => {
    socket.write(`GET /v2/fault/test/blobs/${digest} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
    socket.pause() // and never read
  })
  socket.on('error', () => {})
  t.teardown(() => socket.destroy())
  const connections = () => new Promise<number>((resolve) => proxy.server.getConnections((_, n) => resolve(n)))
  await waitFor(() => reg.bodyBytesSent.cdn, (n) => n > 0, 3000)
  const started = Date.now()
  let open = await connections()
  while (open > 0 && Date.now() - started < 8000) {
    await sleep(50)
    open = await connections()
  }
  t.equal(open, 0, `the stalled TLS client was dropped (${Date.now() - started} ms)`)
  await waitFor(() => reg.openSockets('cdn'), (n) => n === 0, 3000)
  t.equal(reg.openSockets('cdn'), 0, 'and the CDN socket released')
})
